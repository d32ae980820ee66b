"""The wallboard's and the report's words: French by default, the names docs/kpis.md gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from premium_hotline.config import ALERT_DEFAULTS, load_config
from premium_hotline.ops import i18n, wallboard

KPIS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"


def documented_names() -> dict[str, tuple[str, str]]:
    text = KPIS.read_text().split("## Figure names (English and French)", 1)[1]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| ([^|]+) \|$", text, re.M)
    return {key: (english.strip(), french.strip()) for key, english, french in rows}


def test_the_figure_names_are_those_of_kpis_md_in_both_languages():
    assert documented_names() == i18n.NAMES


def test_every_wallboard_figure_has_a_name_in_both_languages():
    for figure in (*wallboard.FIGURES, *wallboard.AGENT_FIGURES):
        assert i18n.name(figure, "fr") and i18n.name(figure, "en")
        assert i18n.name(figure, "fr") != i18n.name(figure, "en") or figure in ("premium_share",)


@pytest.mark.parametrize(
    ("asked", "got"),
    [("fr", "fr"), ("en", "en"), ("en-GB", "en"), ("FR_fr", "fr"), ("de", "fr"), ("", "fr"), (None, "fr")],
)
def test_a_language_request_falls_back_to_french(asked, got):
    assert i18n.language(asked) == got


def test_language_and_thresholds_come_from_the_config(write_config):
    config = load_config(
        write_config(language="en", alert_asa_s="30", alert_service_level="0.9", wallboard_refresh_s="3")
    )
    assert config.errors == []
    general = config.general
    assert general.language == "en" and general.wallboard_refresh_s == 3
    assert general.alerts["asa_s"] == 30 and general.alerts["service_level"] == 0.9
    assert general.alerts["waiting"] == ALERT_DEFAULTS["waiting"]


def test_a_bad_language_or_threshold_is_one_error_naming_file_line_and_key(write_config):
    config = load_config(write_config(language="de", alert_asa_s="soon"))
    problems = {error.key: error.problem for error in config.errors}
    assert set(problems) == {"language", "alert_asa_s"}
    assert "'de' is not one of" in problems["language"]
    assert "not a number" in problems["alert_asa_s"]
    assert all(error.line > 0 for error in config.errors)


@pytest.mark.parametrize(
    ("figure", "value", "level"),
    [
        ("asa_s", 25, "alert"),
        ("asa_s", 20, "alert"),
        ("asa_s", 17, "warn"),
        ("asa_s", 5, "ok"),
        ("asa_s", None, "none"),
        ("service_level", 0.7, "alert"),
        ("service_level", 0.82, "warn"),
        ("service_level", 0.95, "ok"),
        ("premium_share", 0.0, "none"),  # threshold 0: off
        ("commitments_broken", 1, "alert"),
        ("commitments_broken", 0, "ok"),
    ],
)
def test_a_figure_past_its_threshold_is_alert_and_close_to_it_warn(figure, value, level):
    assert wallboard.level(figure, value, dict(ALERT_DEFAULTS)) == level


def test_names_and_labels_cannot_close_the_page_script():
    page = wallboard.page("fr", 5, "n0nce")
    assert page.count("</script>") == 1
    assert wallboard._script_json({"x": "</script><script>alert(1)</script>"}).count("<") == 0


def test_the_snapshot_cache_builds_once_per_interval_and_keeps_the_last_figures_on_failure():
    now = [0.0]
    results = [{"queues": {"support": {}}, "ok": True}, RuntimeError("redis down")]

    def build():
        item = results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    cache = wallboard.SnapshotCache(build, 5, clock=lambda: now[0])
    first, _ = cache.get()
    now[0] = 4.9
    assert cache.get()[0] is first and cache.builds == 1
    now[0] = 5.0
    stale, body = cache.get()
    assert cache.builds == 2
    assert stale["ok"] is False and "redis down" in stale["error"] and stale["queues"] == {"support": {}}
    assert b'"ok": false' in body
