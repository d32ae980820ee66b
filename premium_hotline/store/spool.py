"""A local append-only spool for writes Redis could not take.

When Redis is down or slow the call goes on, and the batch it could not write lands here, one
JSON line per batch, to be replayed when Redis is back (store/spool_replay.py).

Durability: each record is one O_APPEND write(2), fsync(2)'d before `append` returns (before the
plain process exits, before the server's drain completes), a new file's directory entry too. A
power cut after a route has ended cannot lose its batch; one during the write loses at most that
line (a torn last line is skipped by the replay).

Concurrency: each append holds an exclusive flock on its file and checks under it that the file
is still the live spool; a replay takes the same lock once after renaming the file aside, so a
writer that had it open has finished first, and later writers go to the new file.

Bound: all spool files together stay under `spool_max_mb`; above it `append` raises SpoolFull and
the caller puts the batch in its error log line: the last place an operator can still find it.
"""

from __future__ import annotations

import os

SPOOL_NAME = "spool.jsonl"
REJECTED_NAME = "rejected.jsonl"


class SpoolFull(Exception):
    pass


def fsync_dir(directory: str) -> None:
    """Make a file's creation or rename in `directory` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def spool_bytes(directory: str) -> int:
    """Bytes held by every spool file in `directory` (live, being replayed, rejected)."""
    total = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".jsonl"):
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        pass
    except FileNotFoundError:
        pass
    return total


def open_locked(path: str, flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT) -> tuple[int, bool]:
    """`path` opened and exclusively flock'ed, checked to still be `path` under the lock.

    Returns (fd, created). Retries when a replay renamed the file between our open and our
    lock: writing then would land in a file the replay may already have read.
    """
    import fcntl

    for _ in range(100):
        existed = os.path.exists(path)
        fd = os.open(path, flags, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd, not existed
        os.close(fd)  # renamed away under us: open the new live file
    raise OSError(f"spool {path} keeps moving; giving up")


class Spool:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    @property
    def path(self) -> str:
        return os.path.join(self.directory, SPOOL_NAME)

    def append(self, batch: list[list], route: str, uniqueid: str) -> None:
        """Persist one batch; raises OSError or SpoolFull when it cannot (the caller logs it)."""
        import json
        import time

        record = (
            json.dumps(
                {"t": int(time.time() * 1000), "route": route, "uniqueid": uniqueid, "batch": batch},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode("utf-8")
            + b"\n"
        )
        os.makedirs(self.directory, mode=0o750, exist_ok=True)
        append_line(self.directory, SPOOL_NAME, record, self.max_bytes)


def append_line(directory: str, name: str, data: bytes, max_bytes: int | None = None) -> None:
    """`data` appended to `directory/name` under its lock and fsync'd (the file's creation too);
    SpoolFull when the spool files would then hold more than `max_bytes`."""
    fd, created = open_locked(os.path.join(directory, name))
    try:
        if max_bytes is not None and spool_bytes(directory) + len(data) > max_bytes:
            raise SpoolFull(f"spool {directory} is over {max_bytes // 1_000_000} MB")
        while data:  # one write(2) in practice: a regular file takes it whole
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    if created:
        fsync_dir(directory)
