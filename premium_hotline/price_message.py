"""The price message on disk: found where Asterisk's Playback would find it, and measured.

check-config runs this, not every call: it reads files. Asterisk takes a sound as an absolute
path without extension, or a name under its sounds directory, looked up per language in this
order (main/file.c; tests/e2e/test_law_on_real_calls.py checks it on the real Playback): the
channel's language (`fr_CA`), that language without
its region (`fr`), no language, then the default `en`; the first place holding the name in any
format wins, and Asterisk then picks among the formats there by codec, so every file found
there must be playable and long enough.
"""

from __future__ import annotations

import os

from .config import Config, ConfigError, LawError
from .core import law
from .core.sound_length import EXTENSIONS, SoundFileError, sound_length_s

MAX_READ = 64 * 1024 * 1024  # a price message is kilobytes; never read a stray huge file whole


def lookup_bases(name: str, sounds_dir: str, language: str) -> list[str]:
    """Where Asterisk looks for `name`, in its order: paths without extension."""
    if name.startswith("/"):
        return [name]
    languages = [language]
    if "_" in language:
        languages.append(language.split("_", 1)[0])
    languages.append("")
    if "en" not in languages:
        languages.append("en")
    return [os.path.join(sounds_dir, lang, name) if lang else os.path.join(sounds_dir, name)
            for lang in languages]  # fmt: skip


def find_sound(name: str, sounds_dir: str, language: str) -> list[str]:
    """The files Asterisk would play for `name` (one per format, from the first place that has any)."""
    for base in lookup_bases(name, sounds_dir, language):
        found = [f"{base}.{ext}" for ext in EXTENSIONS if os.path.isfile(f"{base}.{ext}")]
        if found:
            return found
    return []


def measure(path: str) -> float:
    """Seconds of sound in the file; SoundFileError (or OSError) if it cannot be played."""
    extension = path.rsplit(".", 1)[-1]
    with open(path, "rb") as handle:
        data = handle.read(MAX_READ)
    return sound_length_s(extension, data)


def price_message_problems(config: Config) -> list[ConfigError]:
    """Every number priced above 0.15 EUR has a message of at least 10 s that Asterisk can play.

    Problems of a message the law requires are LawErrors (against the arrêté of 10 June 2009); a
    configured message that is missing or unplayable on a number that needs none is still a
    plain error (Playback would fail on it).
    """
    general = config.general
    problems: list[ConfigError] = []
    seen: set[str] = set()

    def add(kind, where, key: str, problem: str) -> None:
        error = kind(where[0], where[1], key, problem)
        if str(error) not in seen:  # one template line shared by several numbers: said once
            seen.add(str(error))
            problems.append(error)

    for entry in config.entries:
        if entry.surcharge_bar:  # refused already, and never premium: no message is played
            continue
        required = law.price_message_required(entry.rate)
        kind = LawError if required else ConfigError
        if not entry.announce:
            if required:
                where = entry.where.get("rate", (entry.path, entry.line))
                add(LawError, where, "announce", law.missing_price_message_problem(entry.rate))
            continue
        where = entry.where.get("announce", (entry.path, entry.line))
        files = find_sound(entry.announce, general.sounds_dir, general.sounds_language)
        if not files:
            places = ", ".join(lookup_bases(entry.announce, general.sounds_dir, general.sounds_language))
            add(kind, where, "announce", f"no sound file {entry.announce!r} in any format at {places}"
                + (f" ({law.ARRETE_2009})" if required else ""))  # fmt: skip
            continue
        for path in files:
            try:
                seconds = measure(path)
            except (OSError, SoundFileError) as exc:
                add(kind, where, "announce", f"{path}: {getattr(exc, 'strerror', None) or exc}")
                continue
            if required and seconds < law.PRICE_MESSAGE_MIN_S:
                add(LawError, where, "announce", law.short_price_message_problem(path, seconds))
    return problems
