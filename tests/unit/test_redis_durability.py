"""What the plugin can see of Redis's own persistence, and when it says so (store/durability.py)."""

from __future__ import annotations

from premium_hotline.redis.errors import RespError
from premium_hotline.store.durability import persistence, warn_if_not_durable, weakness

NOPERM = RespError("NOPERM User ph has no permissions to run the 'config|get' command")


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def warning(self, event, **fields):
        self.lines.append(("warning", event, fields))

    def debug(self, event, **fields):
        self.lines.append(("debug", event, fields))


def redis(config: dict | None, info: str | None):
    """An `execute` answering CONFIG GET from `config` (None: refused) and INFO from `info`."""

    def execute(commands):
        replies = []
        for command in commands:
            if command[0] == "CONFIG":
                replies.append(NOPERM if config is None else [command[2], config[command[2]]])
            else:
                replies.append(NOPERM if info is None else info)
        return replies

    return execute


def test_appendonly_off_or_fsync_never_is_a_weakness_and_everysec_or_always_is_not():
    assert "appendonly is off" in weakness({"appendonly": "no", "appendfsync": "everysec"})
    assert "appendfsync no" in weakness({"appendonly": "yes", "appendfsync": "no"})
    assert weakness({"appendonly": "yes", "appendfsync": "everysec"}) is None
    assert weakness({"appendonly": "yes", "appendfsync": "always"}) is None
    assert weakness(None) is None


def test_config_get_first_then_info_persistence_then_silence_when_the_acl_refuses_both():
    assert persistence(redis({"appendonly": "no", "appendfsync": "everysec"}, None)) == {
        "appendonly": "no",
        "appendfsync": "everysec",
    }
    assert persistence(redis(None, "# Persistence\r\nloading:0\r\naof_enabled:1\r\n")) == {
        "appendonly": "yes"
    }
    assert persistence(redis(None, None)) is None


def test_one_warning_line_when_persistence_is_off_and_none_when_the_acl_hides_it():
    log = Log()
    warn_if_not_durable(redis({"appendonly": "no", "appendfsync": "everysec"}, None), log)
    assert [(level, event) for level, event, _ in log.lines] == [("warning", "redis_not_durable")]
    assert "appendonly yes" in log.lines[0][2]["detail"]
    log = Log()
    warn_if_not_durable(redis(None, None), log)
    assert [level for level, _, _ in log.lines] == ["debug"]
