"""`premium-hotline plot` draws the report from the same counters as `stats`."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from tests.support import ops_calls


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def plot(config: str, output, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "plot", "-c", config, "-o", str(output), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_report_sized_png_of_the_window(data, tmp_path):
    output = tmp_path / "report.png"
    result = plot(data.config, output, "--last", "1h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)
    width, height = png_size(output)
    assert width >= 1200 and height >= 1000
    assert output.stat().st_size > 50_000  # drawn, not blank


def test_plot_writes_svg_by_extension_and_names_the_queue_in_the_title(data, tmp_path):
    output = tmp_path / "support.svg"
    result = plot(data.config, output, "--queue", "support", "--interval", "15m")
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "support" in text and "commitment 60s" in text


def test_plot_of_an_empty_window_still_draws_and_says_so(tmp_path, redis_url):
    config = tmp_path / "ph.conf"
    config.write_text(f"[general]\nredis_url = {redis_url}\n")
    output = tmp_path / "empty.png"
    result = plot(str(config), output)
    assert result.returncode == 0, result.stderr
    png_size(output)
