"""A local append-only spool for writes Redis could not take.

When Redis is down or slow the call goes on (the routes never wait past `redis_timeout_ms`), and
the batch it could not write lands here, one JSON line per batch, to be replayed when Redis is
back (`premium-hotline replay`, or the FastAGI server in the background). Each record is written
with a single O_APPEND write, so concurrent AGI processes never interleave, and fsync'd before the
route ends: a power cut after the call cannot lose it. The file is bounded by `spool_max_mb`.
"""

from __future__ import annotations

import os

SPOOL_NAME = "spool.jsonl"


class SpoolFull(Exception):
    pass


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
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if os.fstat(fd).st_size + len(record) > self.max_bytes:
                raise SpoolFull(f"spool {self.path} is over {self.max_bytes // 1_000_000} MB")
            os.write(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)
