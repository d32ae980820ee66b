"""The spool's own guarantees, without Redis: each record fsync'd before `append` returns, whole
lines under concurrent writers (processes), nothing lost when a replay moves the file while a
writer is in the middle of its line, one replay at a time, and a bound on all files together."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest

from premium_hotline.store import spool as spool_module
from premium_hotline.store import spool_replay
from premium_hotline.store.spool import Spool, SpoolFull, open_locked
from premium_hotline.store.spool_replay import replay, take_spool


def batch(uid: str) -> list[list]:
    return [["HSET", f"ph:call:{{{uid}}}", "outcome", "answered"]]


def replayed_uids(directory) -> tuple[list[str], object]:
    """Replay with a stand-in Redis that records which calls it was sent."""
    sent: list[str] = []

    def execute(commands):
        if commands == [["PING"]]:
            return ["PONG"]
        sent.extend(c[1].split("{")[1].rstrip("}") for c in commands if c[0] == "HSET")
        return [1] * len(commands)

    return sent, execute


def test_a_record_is_written_whole_and_fsynced_before_append_returns(tmp_path, monkeypatch):
    calls: list[tuple[str, int]] = []
    real_write, real_fsync, real_close = os.write, os.fsync, os.close
    monkeypatch.setattr(
        spool_module.os, "write", lambda fd, data: calls.append(("write", fd)) or real_write(fd, data)
    )
    monkeypatch.setattr(spool_module.os, "fsync", lambda fd: calls.append(("fsync", fd)) or real_fsync(fd))
    monkeypatch.setattr(spool_module.os, "close", lambda fd: calls.append(("close", fd)) or real_close(fd))
    Spool(str(tmp_path / "spool"), 10_000_000).append(batch("1.1"), "call_ended", "1.1")
    assert [op for op, _ in calls] == ["write", "fsync", "close", "fsync", "close"]
    assert calls[0][1] == calls[1][1] == calls[2][1]  # one write(2), fsync'd before the fd is closed
    # then the directory (a new file's entry), on a descriptor of its own


def _writer(directory: str, worker: int, count: int) -> None:
    spool = Spool(directory, 100_000_000)
    for i in range(count):
        spool.append(batch(f"{worker}.{i}") * 5, "call_ended", f"{worker}.{i}")


def test_concurrent_writers_never_interleave_nor_overwrite(tmp_path):
    directory = str(tmp_path / "spool")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(directory, w, 150)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(30)
        assert process.exitcode == 0
    lines = (tmp_path / "spool" / "spool.jsonl").read_bytes().splitlines()
    assert len(lines) == 600
    assert {json.loads(line)["uniqueid"] for line in lines} == {
        f"{w}.{i}" for w in range(4) for i in range(150)
    }


def test_a_replay_waits_for_a_writer_caught_in_the_middle_of_its_line(tmp_path):
    """A writer has the live file open and locked (it is between open and write) when a replay
    renames the file away: the replay must not read it until that line is written."""
    directory = tmp_path / "spool"
    spool = Spool(str(directory), 10_000_000)
    spool.append(batch("1.1"), "decide_tariff", "1.1")
    fd, _ = open_locked(spool.path)  # the writer, mid-append
    done = threading.Event()
    sent, execute = replayed_uids(directory)
    thread = threading.Thread(target=lambda: (replay(str(directory), execute), done.set()))
    thread.start()
    time.sleep(0.3)
    assert not done.is_set()  # blocked behind the writer's lock
    os.write(
        fd,
        json.dumps({"t": 1, "route": "call_ended", "uniqueid": "1.2", "batch": batch("1.2")}).encode()
        + b"\n",
    )
    os.close(fd)
    thread.join(5)
    assert done.is_set() and sorted(sent) == ["1.1", "1.2"]


def test_a_writer_that_opened_the_spool_before_a_whole_replay_ran_writes_to_the_new_file(
    tmp_path, monkeypatch
):
    """The other side of the race, made deterministic: between the writer's open and its lock,
    a replay renames the file, reads it to the end and deletes it. The writer must notice, under
    its lock, that its file is no longer the spool, and write to the new one."""
    import fcntl

    directory = tmp_path / "spool"
    spool = Spool(str(directory), 10_000_000)
    spool.append(batch("1.1"), "decide_tariff", "1.1")
    sent, execute = replayed_uids(directory)
    real_flock = fcntl.flock
    raced = []

    def flock(fd, operation):
        if not raced:
            raced.append(fd)
            replay(str(directory), execute)  # the whole replay, inside the writer's append
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    spool.append(batch("1.2"), "call_ended", "1.2")
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert sent == ["1.1"] and raced
    replay(str(directory), execute)
    assert sent == ["1.1", "1.2"]


def test_writers_racing_a_replay_loop_lose_nothing(tmp_path):
    directory = tmp_path / "spool"
    sent, execute = replayed_uids(directory)
    stop = threading.Event()

    def replayer():
        while not stop.is_set():
            replay(str(directory), execute)

    threads = [threading.Thread(target=_writer, args=(str(directory), w, 200)) for w in range(4)]
    loop = threading.Thread(target=replayer)
    loop.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stop.set()
    loop.join(10)
    replay(str(directory), execute)
    assert sorted(set(sent)) == sorted(f"{w}.{i}" for w in range(4) for i in range(200))


def test_one_replay_at_a_time(tmp_path):
    directory = tmp_path / "spool"
    Spool(str(directory), 10_000_000).append(batch("1.1"), "call_ended", "1.1")
    entered, release = threading.Event(), threading.Event()

    def slow(commands):
        entered.set()
        release.wait(5)
        return ["PONG"] if commands == [["PING"]] else [1] * len(commands)

    first = threading.Thread(target=replay, args=(str(directory), slow))
    first.start()
    entered.wait(5)
    sent, execute = replayed_uids(directory)
    report = replay(str(directory), execute)
    release.set()
    first.join(5)
    assert report.busy and sent == []


def test_the_bound_counts_every_spool_file(tmp_path):
    directory = tmp_path / "spool"
    spool = Spool(str(directory), 2_000)
    spool.append(batch("1.1") * 10, "call_ended", "1.1")
    take_spool(str(directory))  # a replay moved it aside and then failed: still on disk
    with pytest.raises(SpoolFull):
        for i in range(20):
            spool.append(batch(f"2.{i}") * 10, "call_ended", f"2.{i}")
    total = sum(p.stat().st_size for p in directory.glob("*.jsonl"))
    assert total <= 2_000


def test_a_torn_last_line_is_skipped_and_the_rest_replayed(tmp_path):
    directory = tmp_path / "spool"
    spool = Spool(str(directory), 10_000_000)
    spool.append(batch("1.1"), "call_ended", "1.1")
    with open(spool.path, "ab") as handle:
        handle.write(b'{"t":2,"route":"call_ended","uniqueid":"1.2","bat')  # power cut mid-write
    sent, execute = replayed_uids(directory)
    report = replay(str(directory), execute)
    assert sent == ["1.1"] and report.skipped == 1
    assert spool_replay.pending_files(str(directory)) == []
