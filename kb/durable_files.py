"""Writing files so a crash leaves the old version or the new one, never half of either.

The pattern every saved artefact uses (the dense index and its manifest, the keyword index's versions and
manifest, the exported ONNX models): write a temporary file in the target's folder, fsync it, rename it
over the target (atomic on POSIX), then fsync the folder so the rename itself survives a power loss.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(folder: Path, name: str) -> Path:
    """An empty temporary file beside where ``name`` will go (same file system, so the rename is atomic)."""
    handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; indexes and models are no secret (a web server reads them)
    return Path(tmp)


def replace_durably(tmp: Path, target: Path) -> None:
    """Move a fully written ``tmp`` over ``target``: fsync, atomic rename, fsync of the folder."""
    fsync_path(tmp)
    os.replace(tmp, target)
    fsync_path(target.parent)


def atomic_write(target: Path, data: bytes) -> None:
    """``target`` holds ``data`` afterwards, or (after a crash or an error) what it held before."""
    tmp = temporary_path(target.parent, target.name)
    try:
        tmp.write_bytes(data)
        replace_durably(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def create_once(target: Path, data: bytes) -> bool:
    """Write ``target`` (owner-only, 0600) unless it exists; False when another process got there first.

    The file appears whole or not at all: it is written and flushed under a temporary name and then hard-
    linked into place, which fails if ``target`` exists, so processes starting together (gunicorn's
    workers, each making the secret key on a first boot) agree on the one file the first of them wrote.
    """
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)  # mkstemp makes it private (0600)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        fsync_path(target.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)
