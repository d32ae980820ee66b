"""The ready-made price messages: what they say, that they are real 10-second sounds, and that the
shipped sample config passes every check with them."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from premium_hotline.config import load_config
from premium_hotline.core import law
from premium_hotline.core.numbers import parse_rate
from premium_hotline.core.price_words import french_euros, french_number, price_message_text
from premium_hotline.core.sound_length import sound_length_s
from premium_hotline.price_message import price_message_problems

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config" / "premium-hotline.conf"
SOUNDS = ROOT / "sounds"


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zéro"), (1, "un"), (15, "quinze"), (17, "dix-sept"), (21, "vingt-et-un"), (60, "soixante"),
     (71, "soixante-et-onze"), (77, "soixante-dix-sept"), (80, "quatre-vingts"), (81, "quatre-vingt-un"),
     (90, "quatre-vingt-dix"), (99, "quatre-vingt-dix-neuf"), (100, "cent"), (200, "deux-cents"),
     (301, "trois-cent-un")],
)  # fmt: skip
def test_french_numbers(n, words):
    assert french_number(n) == words


@pytest.mark.parametrize(
    ("amount", "spoken"),
    [("0.80", "quatre-vingts centimes d'euro"), ("0.01", "un centime d'euro"), ("3.00", "trois euros"),
     ("2.99", "deux euros quatre-vingt-dix-neuf"), ("1.50", "un euro cinquante")],
)  # fmt: skip
def test_french_euros(amount, spoken):
    assert french_euros(Decimal(amount)) == spoken


def test_the_message_gives_the_service_price_the_call_price_on_top_and_the_hash_key():
    text = price_message_text(parse_rate("2.99/call"))
    assert "deux euros quatre-vingt-dix-neuf par appel" in text
    assert "s'ajoute le prix de l'appel" in text and "touche dièse" in text
    assert "par minute" in price_message_text(parse_rate("0.80/min"))


def test_the_shipped_sample_config_passes_every_check_with_the_shipped_messages():
    config = load_config(str(SAMPLE))
    assert config.errors == [] and config.warnings == []
    assert all(entry.purpose for entry in config.entries), "every sample number declares its purpose"
    config.general.sounds_dir = str(SOUNDS)  # as installed: sounds/premium-hotline/ under sounds_dir
    assert price_message_problems(config) == []


def test_every_surcharged_sample_number_has_its_own_message_of_at_least_10_s_stating_its_price():
    config = load_config(str(SAMPLE))
    surcharged = [entry for entry in config.entries if entry.rate is not None]
    assert len(surcharged) == 3
    for entry in surcharged:
        path = SOUNDS / f"{entry.announce}.gsm"
        assert sound_length_s("gsm", path.read_bytes()) >= law.PRICE_MESSAGE_MIN_S
        assert path.stat().st_size < 25_000  # GSM: about 1.6 kB a second


TOOLS = bool(shutil.which("espeak-ng") and shutil.which("sox"))


@pytest.mark.skipif(not TOOLS, reason="scripts/setup installs espeak-ng and sox")
def test_the_shipped_messages_are_exactly_what_the_script_makes(tmp_path):
    """Deterministic: re-running scripts/price-messages gives the committed bytes."""
    run = subprocess.run(
        [str(ROOT / "scripts" / "price-messages"), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    made = sorted(tmp_path.rglob("*.gsm"))
    shipped = sorted(p.relative_to(SOUNDS) for p in SOUNDS.rglob("*.gsm"))
    assert [p.relative_to(tmp_path) for p in made] == shipped
    for path in made:
        assert path.read_bytes() == (SOUNDS / path.relative_to(tmp_path)).read_bytes(), (
            f"{path.name} differs: run scripts/price-messages and commit sounds/"
        )
