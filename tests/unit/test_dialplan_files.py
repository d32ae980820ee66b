"""The shipped dialplan: both Asterisk variants stay in step, and every route it calls exists."""

from __future__ import annotations

import re
from pathlib import Path

from premium_hotline.commands.install_agi import script_text
from premium_hotline.routes import ROUTES

ROOT = Path(__file__).parents[2]
DIALPLAN = ROOT / "dialplan"


def body(name: str) -> list[str]:
    return [line for line in (DIALPLAN / name).read_text().splitlines() if not line.startswith(";")]


def test_the_asterisk_18_variant_differs_only_by_the_macro_slot_of_queue():
    new, old = body("premium-hotline.conf"), body("premium-hotline-ast18.conf")
    assert len(new) == len(old)
    diffs = [(a, b) for a, b in zip(new, old, strict=True) if a != b]
    assert len(diffs) == 3  # the early-media leg, the leg after early_media_max_s, the answered wait
    for a, b in diffs:
        assert "Queue(" in a and b == a.replace('agent_answered.py,"', 'agent_answered.py,,"')


def test_every_agi_the_dialplan_runs_is_a_registered_route():
    text = (DIALPLAN / "premium-hotline.conf").read_text()
    called = set(re.findall(r"\$\{PH_AGI_(?:BASE|FALLBACK)\}(\w+)\.py", text))
    assert called == set(ROUTES)


def test_repository_scripts_match_what_install_agi_writes():
    for route in ROUTES:
        assert (ROOT / "agi_scripts" / f"{route}.py").read_text() == script_text(route)


def test_repository_scripts_are_a_few_lines():
    for route in ROUTES:
        code = [
            line for line in (ROOT / "agi_scripts" / f"{route}.py").read_text().splitlines() if line.strip()
        ]
        assert len(code) <= 5


def test_asterisklint_finds_nothing_in_either_variant(tmp_path):
    """An independent checker (asterisklint, PyPI) reads the dialplan as Asterisk's parser would:
    it caught an unescaped ';' that cut CDR(userfield) short."""
    import shutil
    import subprocess
    import sys

    lint = shutil.which("asterisklint") or str(Path(sys.executable).with_name("asterisklint"))
    for variant in ("premium-hotline.conf", "premium-hotline-ast18.conf"):
        (tmp_path / "premium-hotline.conf").write_text((DIALPLAN / variant).read_text())
        (tmp_path / "extensions.conf").write_text(
            '[general]\n\n[globals]\n\n#include "premium-hotline.conf"\n'
        )
        result = subprocess.run(
            [lint, "dialplan-check", "extensions.conf"], cwd=tmp_path, capture_output=True, text=True
        )
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), variant
