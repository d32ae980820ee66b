"""What a PBX administrator installs: the wheel must carry every subpackage."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).parents[2]


def test_every_package_directory_is_found_by_setuptools():
    found = set(find_packages(str(ROOT), include=["premium_hotline*"]))
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "premium_hotline").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk <= found, f"directories without __init__.py: {sorted(on_disk - found)}"
