"""The systemd samples in config/ run what the README installs, and systemd itself finds them clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
UNITS = sorted(p for p in (ROOT / "config").iterdir() if p.suffix in (".service", ".timer"))
PREFIX = "/opt/premium-hotline/"


def test_the_readme_installs_the_virtualenv_where_the_units_run_it():
    readme = (ROOT / "README.md").read_text()
    assert f"python3 -m venv {PREFIX.rstrip('/')}\n" in readme
    services = [u for u in UNITS if u.suffix == ".service"]
    assert services, "no systemd service sample in config/"
    for unit in services:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                assert line.startswith(f"ExecStart={PREFIX}bin/premium-hotline "), f"{unit.name}: {line}"


def test_every_unit_sample_passes_systemd_analyze_verify_on_an_installed_layout(tmp_path):
    # The installed layout is this test run's own virtualenv standing in for /opt/premium-hotline.
    venv = Path(sys.executable).parent.parent
    assert (venv / "bin" / "premium-hotline").exists()
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(PREFIX, f"{venv}/"))
    result = subprocess.run(
        ["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in UNITS]],
        capture_output=True,
        text=True,
    )
    problems = [line for line in result.stderr.splitlines() if not re.search(r"\.target not found", line)]
    assert result.returncode == 0 and problems == [], result.stderr
