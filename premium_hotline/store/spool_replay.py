"""Replay the spool into Redis once it is back, without ever counting a call twice.

One replay at a time per spool directory (an flock on `replay.lock`). Redis is asked for a PING
first, so an outage does not shuffle files around. The live spool is then renamed aside (new
failures append to a fresh one; store/spool.py's lock makes that safe against writers in
flight), and each batch is sent again without its live-only commands.

Every command left is idempotent (HSET, EXPIRE, ZREM, SADD, the KPI script guarded by the
"counted" set) but the event XADD, sent inside a Lua script guarded by a set of replayed batch
ids (`<events key>:replayed:{<events key>}`, the stream's slot, 7 days) and tagged `replayed=1`.
Progress is saved after each batch: an interrupted replay resumes, and the batch it may send
twice changes nothing. A batch Redis refuses (ACL, OOM, wrong type) goes to `rejected.jsonl`
with the error, for an operator to move back into `spool.jsonl` once the cause is fixed.
"""

from __future__ import annotations

import json
import os
import time

from ..redis.errors import RedisUnavailable, RespError
from .records import COUNTED_TTL_S, replay_commands
from .spool import REJECTED_NAME, SPOOL_NAME, append_line, fsync_dir

PENDING_PREFIX = "replaying-"
LOCK_NAME = "replay.lock"

# The replayed copy of a batch's event, added once per batch id whatever the number of replays.
# KEYS: the stream, the guard set. ARGV: batch id, guard TTL, MAXLEN, then field/value pairs.
REPLAY_EVENT_LUA = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
return 1
"""


class ReplayReport:
    def __init__(self) -> None:
        self.batches = self.skipped = self.remaining_files = 0
        self.rejected: list[str] = []
        self.busy = False

    def __str__(self) -> str:
        if self.busy:
            return "another replay of this spool is running; nothing done"
        text = f"replayed {self.batches} batch(es)"
        if self.skipped:
            text += f", skipped {self.skipped} unreadable line(s)"
        if self.rejected:
            first = self.rejected[0]
            text += f", {len(self.rejected)} rejected by Redis and kept in {REJECTED_NAME} (first: {first})"
        if self.remaining_files:
            text += f"; {self.remaining_files} file(s) left for a later run"
        return text


def guard_key(events_key: str) -> str:
    """The set of replayed batch ids: hash tag = the stream's name, so one slot with it."""
    return f"{events_key}:replayed:{{{events_key}}}"


def _replay_batch(batch: list[list], batch_id: str) -> list[list]:
    """The batch as replayed: each event XADD guarded by its batch id and tagged `replayed=1`."""
    out = []
    for command in batch:
        if (
            command[:1] == ["XADD"]
            and len(command) >= 6
            and command[2:4] == ["MAXLEN", "~"]
            and command[5] == "*"
        ):
            key, maxlen, fields = command[1], command[4], command[6:]
            guard = [key, guard_key(key), batch_id, str(COUNTED_TTL_S), maxlen]
            out.append(["EVAL", REPLAY_EVENT_LUA, "2", *guard, *fields, "replayed", "1"])
        elif command and command[0] == "XADD":
            out.append([*command, "replayed", "1"])
        else:
            out.append(command)
    return out


def pending_files(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(
        os.path.join(directory, n) for n in names if n.startswith(PENDING_PREFIX) and not n.endswith(".pos")
    )


def has_work(directory: str) -> bool:
    """Anything to replay: a non-empty live spool, or a file a previous replay left."""
    try:
        if os.path.getsize(os.path.join(directory, SPOOL_NAME)) > 0:
            return True
    except OSError:
        pass
    return bool(pending_files(directory))


def take_spool(directory: str) -> str | None:
    """Move the live spool aside so appends go to a new file; None when there is nothing.

    After the rename, the file's lock is taken once: a writer that opened it before the rename
    finishes its line first, and every later writer sees it is no longer the live file.
    """
    import fcntl

    live = os.path.join(directory, SPOOL_NAME)
    if not os.path.exists(live) or os.path.getsize(live) == 0:
        return None
    target = os.path.join(directory, f"{PENDING_PREFIX}{time.time_ns()}.jsonl")
    os.rename(live, target)
    fsync_dir(directory)
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a writer in the middle of its line
    finally:
        os.close(fd)
    return target


def replay(directory: str, execute) -> ReplayReport:
    """Replay every pending file; `execute(commands) -> replies` raises RedisUnavailable."""
    import fcntl

    report = ReplayReport()
    if not os.path.isdir(directory):
        return report
    lock = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report.busy = True
            return report
        if not has_work(directory):
            return report
        pong = execute([["PING"]])
        if pong and isinstance(pong[0], RespError):
            raise RedisUnavailable(f"Redis refused PING: {pong[0]}")
        take_spool(directory)
        files = pending_files(directory)
        for index, path in enumerate(files):
            try:
                _replay_file(path, execute, report)
            except RedisUnavailable:
                report.remaining_files = len(files) - index
                raise
        return report
    finally:
        os.close(lock)


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
                batch = replay_commands(record["batch"])
                batch_id = f"{record.get('route')}:{record.get('uniqueid')}:{record.get('t')}"
                batch = _replay_batch(batch, batch_id)
            except (ValueError, KeyError, TypeError, AttributeError, IndexError):
                report.skipped += 1
                continue
            if batch:
                replies = execute(batch)
                errors = [str(r) for r in replies if isinstance(r, RespError | Exception)]
                if errors:
                    report.rejected.append(f"{record.get('route')} {record.get('uniqueid')}: {errors[0]}")
                    _keep_rejected(os.path.dirname(path), record, errors)
            report.batches += 1
            with open(position_path, "w") as marker:
                marker.write(str(position))
    os.remove(path)
    os.remove(position_path) if os.path.exists(position_path) else None


def _keep_rejected(directory: str, record: dict, errors: list[str]) -> None:
    """A batch Redis refused: kept, with why, where no replay picks it up by itself."""
    line = json.dumps({**record, "errors": errors[:5]}, separators=(",", ":"), ensure_ascii=False)
    append_line(directory, REJECTED_NAME, line.encode("utf-8") + b"\n")
