"""Who may write the search indexes, and when readers may load them: file locks on the index folder.

Several processes share one index folder (web workers read it, a crawl or ``kb reindex`` writes it), so the
locks are ``fcntl.flock`` locks on files in that folder; the kernel drops them when a process dies, even by
``kill -9``, so a crashed writer never leaves the folder locked. Two locks, because writing has a long part
and a short one:

* ``.writer.lock`` (exclusive) is held for a whole refresh (embedding, reconciling, saving, publishing):
  one writer at a time, so two crawls never interleave their saves and FAISS is never mutated concurrently;
* ``.publish.lock`` is held exclusively only while the files are replaced and the version is bumped, and
  shared by a reader while it loads the pair of files, so a reader never loads a new dense index with an old
  keyword index.

flock locks belong to an open file, so two opens in one process would block each other: each lock object
is therefore re-entrant per thread and serialises the threads of its process first.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WRITER_LOCK = ".writer.lock"
PUBLISH_LOCK = ".publish.lock"


class FolderLock:
    """A re-entrant exclusive/shared flock on ``folder/name``, usable across threads and processes."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = Path(folder) / name
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take the lock (exclusive unless ``shared``); False when ``blocking`` is off and it is taken."""
        if not self._threads.acquire(blocking=blocking):
            return False
        if self._depth == 0:
            fd = self._open()
            flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                os.close(fd)
                self._threads.release()
                return False
            except BaseException:
                os.close(fd)
                self._threads.release()
                raise
            self._fd = fd
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._threads.release()

    @contextmanager
    def held(self, *, shared: bool = False) -> Iterator[None]:
        self.acquire(shared=shared)
        try:
            yield
        finally:
            self.release()

    def taken_elsewhere(self) -> bool:
        """True when another process (or thread) holds the lock right now."""
        if not self.acquire(blocking=False):
            return True
        self.release()
        return False
