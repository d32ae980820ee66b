"""How long a sound file plays, read from the file itself, for the formats Asterisk plays.

Pure: bytes in, seconds out. A price message must last at least 10 seconds, and a file name
says nothing about that, so check-config measures it. One parser per format, each refusing what
Asterisk's own format module would refuse (format_wav plays only 16-bit mono PCM, 8 kHz from a
`.wav`, 16 kHz from a `.wav16`), so "it measures 12 s" also means "Asterisk can play it".
"""

from __future__ import annotations

import struct


class SoundFileError(ValueError):
    """The file is not one Asterisk's format module for its extension would play."""


def _raw(bytes_per_second: int):
    def length(data: bytes) -> float:
        return len(data) / bytes_per_second

    return length


GSM_FRAME = 33  # GSM 06.10: 160 samples (20 ms) in 33 bytes, each frame starting with 0xD nibble


def _gsm(data: bytes) -> float:
    if len(data) % GSM_FRAME:
        raise SoundFileError(f"{len(data)} bytes is not a whole number of 33-byte GSM frames")
    for offset in range(0, len(data), GSM_FRAME):
        if data[offset] >> 4 != 0xD:
            raise SoundFileError(f"no GSM 06.10 frame at byte {offset}")
    return len(data) // GSM_FRAME * 0.02


def _wav(expected_rate: int):
    def length(data: bytes) -> float:
        return _riff_wave(data, expected_rate)

    return length


def _riff_wave(data: bytes, expected_rate: int) -> float:
    """RIFF/WAVE: the fmt chunk must be PCM, mono, 16 bits at the extension's rate; then data.

    A data size larger than what the file holds (a truncated or streamed file) counts what is
    there, as Asterisk plays what is there.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SoundFileError("not a RIFF/WAVE file")
    offset = 12
    rate = 0
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise SoundFileError("fmt chunk too short")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if (tag, channels, bits, rate) != (1, 1, 16, expected_rate):
                raise SoundFileError(
                    f"format {tag}, {channels} channel(s), {bits} bits, {rate} Hz: Asterisk plays "
                    f"this extension only as PCM, mono, 16 bits, {expected_rate} Hz"
                )
        elif chunk == b"data":
            if not rate:
                raise SoundFileError("data chunk before the fmt chunk")
            available = len(data) - body
            return min(size, available) // 2 / rate
        offset = body + size + (size & 1)  # chunks are word-aligned
    raise SoundFileError("no data chunk" if rate else "no fmt chunk")


# Extension (as Asterisk's format modules register them) -> parser.
PARSERS = {
    "wav": _wav(8000),
    "wav16": _wav(16000),
    "ulaw": _raw(8000),
    "ul": _raw(8000),
    "pcm": _raw(8000),
    "alaw": _raw(8000),
    "al": _raw(8000),
    "sln": _raw(16000),
    "raw": _raw(16000),
    "sln16": _raw(32000),
    "gsm": _gsm,
}
EXTENSIONS = tuple(PARSERS)


def sound_length_s(extension: str, data: bytes) -> float:
    """Seconds of sound in `data`, a file with that extension; SoundFileError if unplayable."""
    try:
        parser = PARSERS[extension]
    except KeyError:
        raise SoundFileError(f".{extension} is not a format this check reads") from None
    return parser(data)
