"""``<out>/.segmint.lock``: one run at a time writes into an output folder.

The lock is ``fcntl.flock`` on the lock file, which the kernel releases when the holder dies
(kill -9 included), so a lock is never stuck; the file holds the holder's pid, to name it when a
second run is refused and to warn when a killed run's lock is taken over. Where ``fcntl`` is
missing (Windows) the lock is the exclusive creation of the file (``O_CREAT | O_EXCL``), and a
file whose pid is not alive is stale and taken over.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from segmint._logging import logger
from segmint.exceptions import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".segmint.lock"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:  # pragma: no cover - Windows: no signal 0
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class RunLock:
    """The lock of the output folder ``out``; :meth:`acquire` refuses when it is held."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None

    def _refuse(self, pid: int | None) -> InputError:
        who = f"pid {pid}" if pid is not None else "pid unknown"
        return InputError(
            f"{self.out}: another segmint run ({who}) is writing to this folder; wait for it "
            "to finish, or write to another folder with --out"
        )

    def _stale(self, pid: int | None) -> None:
        if pid is not None and pid != os.getpid():
            logger.warning(
                "%s: taking over the lock of run pid %d, which is no longer running "
                "(it was killed or crashed)",
                self.out,
                pid,
            )

    def acquire(self) -> RunLock:
        if fcntl is None:  # pragma: no cover - Windows
            return self._acquire_exclusive()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse(_read_pid(self.path)) from None
            # the holder before us may have removed the file after we opened it: lock anew
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._stale(_read_pid(self.path))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _acquire_exclusive(self) -> RunLock:  # pragma: no cover - Windows
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = _read_pid(self.path)
                if pid is not None and pid_alive(pid):
                    raise self._refuse(pid) from None
                self._stale(pid)
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self
        raise self._refuse(_read_pid(self.path))

    def release(self) -> None:
        if self._fd is None:
            return
        if fcntl is None:  # pragma: no cover - Windows: an open file cannot be removed
            os.close(self._fd)
        # removed while still held: a run waiting on the old file sees it gone and locks anew
        with contextlib.suppress(OSError):
            self.path.unlink()
        if fcntl is not None:
            os.close(self._fd)
        self._fd = None
