"""A local append-only spool for writes Redis could not take.

When Redis is down or slow the call goes on (the routes never wait past `redis_timeout_ms`), and
the batch it could not write lands here, one JSON line per batch, to be replayed when Redis is
back (`premium-hotline replay`, or the FastAGI server in the background: store/replay.py).

Durability (the fsync policy): every record is written with a single O_APPEND write(2) and
fsync(2)'d before `append` returns, so before the plain AGI process exits and before the FastAGI
server's drain completes. A new spool file's directory entry is fsync'd too. A power cut after
a route has ended therefore cannot lose its batch; one during the write loses at most that
batch's own line (a torn last line is skipped by the replay, the lines before it are intact).

Concurrency: many AGI processes and the server append at once, while a replay may move the file
aside. Each append holds an exclusive flock on the file it writes, and checks under the lock that
the file is still the live spool (not renamed away by a replay); the replay takes the same lock
once after its rename, so a writer that had the old file open has finished before the replay
reads it, and any later writer goes to the new file.

Bound: all spool files together (the live one, files being replayed, batches Redis rejected) are
kept under `spool_max_mb`. Above it `append` raises SpoolFull and the caller puts the batch in its
error log line instead: the last place an operator can still find it.
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
        fd, created = open_locked(self.path)
        try:
            if spool_bytes(self.directory) + len(record) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} is over {self.max_bytes // 1_000_000} MB")
            data = record
            while data:  # one write(2) in practice: a regular file takes it whole
                written = os.write(fd, data)
                data = data[written:]
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
        if created:
            fsync_dir(self.directory)
