"""Every tariff, outcome and reason code is spelled once (core/codes.py), and all of them are used."""

from __future__ import annotations

import re
from pathlib import Path

from premium_hotline.core import codes

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "premium_hotline").rglob("*.py") if p.name != "codes.py")


def test_every_reason_code_set_anywhere_is_a_known_reason():
    text = _sources() + "".join(p.read_text() for p in (ROOT / "dialplan").glob("*.conf"))
    set_in_code = set(re.findall(r'Decision\([^,]+, "([a-z_]+)"', text))
    set_in_code |= set(re.findall(r'reason="([a-z_]+)"', text)) - {"stopping"}
    set_in_code |= set(re.findall(r"PH_REASON=([a-z_]+)", text))
    assert set_in_code, "the patterns found no reason code at all"
    assert set_in_code <= set(codes.REASONS), sorted(set_in_code - set(codes.REASONS))


def test_failures_are_reasons_and_the_dialplans_own_fallback_is_one_of_them():
    assert set(codes.FAILURE_REASONS) <= set(codes.REASONS)
    assert "agi_failure" in codes.FAILURE_REASONS and "premium" not in codes.FAILURE_REASONS


def test_the_readme_lists_every_reason_code():
    readme = (ROOT / "README.md").read_text()
    missing = [code for code in codes.REASONS if f"`{code}`" not in readme]
    assert missing == []


def test_no_module_defines_a_tariff_an_outcome_or_the_window_again():
    again = re.findall(
        r"^(PREMIUM|FREE|ANSWERED|ABANDONED|OUTCOMES|RECENT_WINDOW_MS|FAILURE_REASONS) = ", _sources(), re.M
    )
    assert again == []
