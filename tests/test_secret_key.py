"""The app's secret key when none is configured: made once, kept, and the same for workers booting together."""

from __future__ import annotations

import stat
import threading
from types import SimpleNamespace

from kb.durable_files import create_once
from web.security import secret_key


def fake_kb(instance, key: str = ""):
    """secret_key reads only these two settings."""
    return SimpleNamespace(settings=SimpleNamespace(secret_key=key, instance_dir=str(instance)))


def test_workers_booting_together_all_get_the_one_key_written(tmp_path):
    instance = tmp_path / "instance"  # not there yet: a first boot
    workers, keys, errors = 8, [], []
    start = threading.Barrier(workers)

    def boot() -> None:
        start.wait()
        try:
            keys.append(secret_key(fake_kb(instance)))
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=boot) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(keys) == workers and len(set(keys)) == 1 and len(keys[0]) == 64
    path = instance / "secret_key"
    assert path.read_text() == keys[0] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary files left behind
    assert secret_key(fake_kb(instance)) == keys[0]  # a restart keeps everybody logged in


def test_a_configured_key_wins_and_writes_nothing(tmp_path):
    assert secret_key(fake_kb(tmp_path / "instance", key="from-the-environment")) == "from-the-environment"
    assert not (tmp_path / "instance").exists()


def test_create_once_never_replaces_an_existing_file(tmp_path):
    target = tmp_path / "key"
    assert create_once(target, b"first") is True
    assert create_once(target, b"second") is False
    assert target.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == ["key"]
