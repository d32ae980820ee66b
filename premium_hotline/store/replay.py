"""Replay the spool into Redis once it is back, without ever counting a call twice.

The spool file is first renamed aside (new failures keep appending to a fresh spool), then each
batch is sent again with its live-only commands dropped. Every command left is idempotent
(HSET, EXPIRE, ZREM, SADD, and the KPI Lua script guarded by the per-call "counted" set) except
the event XADD, which is tagged `replayed=1`. Progress is saved after each batch, so a replay
interrupted and restarted resumes where it stopped; a batch sent twice changes nothing.
"""

from __future__ import annotations

import json
import os
import time

from .records import replay_commands
from .resp import RedisUnavailable, RespError
from .spool import SPOOL_NAME

PENDING_PREFIX = "replaying-"


class ReplayReport:
    def __init__(self) -> None:
        self.batches = 0
        self.skipped = 0
        self.rejected: list[str] = []
        self.remaining_files = 0

    def __str__(self) -> str:
        text = f"replayed {self.batches} batch(es)"
        if self.skipped:
            text += f", skipped {self.skipped} unreadable line(s)"
        if self.rejected:
            text += f", {len(self.rejected)} rejected by Redis (first: {self.rejected[0]})"
        if self.remaining_files:
            text += f"; {self.remaining_files} file(s) left for a later run"
        return text


def _tag_events(batch: list[list]) -> list[list]:
    return [[*command, "replayed", "1"] if command and command[0] == "XADD" else command for command in batch]


def pending_files(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(
        os.path.join(directory, n) for n in names if n.startswith(PENDING_PREFIX) and not n.endswith(".pos")
    )


def take_spool(directory: str) -> str | None:
    """Move the live spool aside so appends go to a new file; None when there is nothing."""
    live = os.path.join(directory, SPOOL_NAME)
    if not os.path.exists(live) or os.path.getsize(live) == 0:
        return None
    target = os.path.join(directory, f"{PENDING_PREFIX}{time.time_ns()}.jsonl")
    os.rename(live, target)
    return target


def replay(directory: str, execute) -> ReplayReport:
    """Replay every pending file; `execute(commands) -> replies` raises RedisUnavailable."""
    report = ReplayReport()
    take_spool(directory)
    files = pending_files(directory)
    for index, path in enumerate(files):
        try:
            _replay_file(path, execute, report)
        except RedisUnavailable:
            report.remaining_files = len(files) - index
            raise
    return report


def _replay_file(path: str, execute, report: ReplayReport) -> None:
    position_path = path + ".pos"
    try:
        with open(position_path) as handle:
            position = int(handle.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        position = 0
    with open(path, "rb") as handle:
        handle.seek(position)
        for raw in handle:
            position += len(raw)
            try:
                record = json.loads(raw)
                batch = _tag_events(replay_commands(record["batch"]))
            except (ValueError, KeyError, TypeError):
                report.skipped += 1
                continue
            if batch:
                replies = execute(batch)
                errors = [str(r) for r in replies if isinstance(r, RespError | Exception)]
                if errors:
                    report.rejected.append(f"{record.get('route')} {record.get('uniqueid')}: {errors[0]}")
            report.batches += 1
            with open(position_path, "w") as marker:
                marker.write(str(position))
    os.remove(path)
    os.remove(position_path) if os.path.exists(position_path) else None
