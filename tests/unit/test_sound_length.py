"""Sound lengths read from the files themselves, one parser per format Asterisk plays."""

from __future__ import annotations

import io
import struct
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core.sound_length import EXTENSIONS, SoundFileError, sound_length_s


def wav_bytes(samples: int, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\0" * samples * channels * width)
    return out.getvalue()


def gsm_bytes(frames: int, filler: int = 0) -> bytes:
    return (bytes([0xD0 | (filler & 0xF)]) + bytes([filler]) * 32) * frames


@settings(deadline=None)  # big files on a loaded machine
@given(st.integers(0, 8000 * 30))
def test_a_wav_lasts_its_samples_over_8000(samples):
    assert sound_length_s("wav", wav_bytes(samples)) == pytest.approx(samples / 8000)


@settings(deadline=None)  # big files on a loaded machine
@given(st.integers(0, 16000 * 20))
def test_a_wav16_lasts_its_samples_over_16000(samples):
    assert sound_length_s("wav16", wav_bytes(samples, rate=16000)) == pytest.approx(samples / 16000)


@settings(deadline=None)  # big files on a loaded machine
@given(st.integers(0, 1500), st.integers(0, 255))
def test_a_gsm_file_lasts_20_ms_per_33_byte_frame(frames, filler):
    assert sound_length_s("gsm", gsm_bytes(frames, filler)) == pytest.approx(frames * 0.02)


@pytest.mark.parametrize(
    ("extension", "per_second"),
    [("ulaw", 8000), ("ul", 8000), ("pcm", 8000), ("alaw", 8000), ("al", 8000), ("sln", 16000),
     ("raw", 16000), ("sln16", 32000)],
)  # fmt: skip
@settings(deadline=None)  # big files on a loaded machine
@given(size=st.integers(0, 400_000))
def test_raw_formats_last_their_size_over_their_byte_rate(extension, per_second, size):
    assert sound_length_s(extension, b"\x7f" * size) == pytest.approx(size / per_second)


@settings(deadline=None)  # big files on a loaded machine
@given(st.integers(1, 8000 * 5), st.integers(1, 5000))
def test_a_truncated_wav_counts_only_the_samples_it_holds(samples, cut):
    data = wav_bytes(samples)
    cut = min(cut, samples * 2)
    held = (len(data) - cut - 44) // 2
    assert sound_length_s("wav", data[: len(data) - cut]) == pytest.approx(held / 8000)


@given(st.binary(max_size=64), st.integers(0, 8000))
def test_extra_chunks_before_the_data_are_skipped(extra, samples):
    data = wav_bytes(samples)
    chunk = b"LIST" + struct.pack("<I", len(extra)) + extra + (b"\0" if len(extra) & 1 else b"")
    spliced = data[:36] + chunk + data[36:]  # after the 16-byte fmt chunk, before data
    assert sound_length_s("wav", spliced) == pytest.approx(samples / 8000)


@pytest.mark.parametrize(
    ("rate", "channels", "width", "extension"),
    [(44100, 1, 2, "wav"), (8000, 2, 2, "wav"), (8000, 1, 1, "wav"), (16000, 1, 2, "wav"),
     (8000, 1, 2, "wav16")],
)  # fmt: skip
def test_a_wav_asterisk_would_not_play_is_refused(rate, channels, width, extension):
    with pytest.raises(SoundFileError, match="PCM, mono, 16 bits"):
        sound_length_s(extension, wav_bytes(800, rate, channels, width))


def test_a_gsm_file_that_is_not_gsm_frames_is_refused():
    with pytest.raises(SoundFileError, match="33-byte"):
        sound_length_s("gsm", gsm_bytes(3)[:-1])
    with pytest.raises(SoundFileError, match=r"no GSM 06\.10 frame at byte 33"):
        sound_length_s("gsm", gsm_bytes(1) + b"\0" * 33)


def test_an_unknown_extension_is_refused():
    with pytest.raises(SoundFileError, match=r"\.mp3"):
        sound_length_s("mp3", b"ID3")


@settings(max_examples=300)
@given(st.sampled_from(EXTENSIONS), st.binary(max_size=300))
def test_any_bytes_give_a_length_or_one_sound_file_error(extension, data):
    try:
        seconds = sound_length_s(extension, data)
    except SoundFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert 0 <= seconds <= len(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_riff_wave_header_give_a_length_or_one_error(tail):
    try:
        sound_length_s("wav", b"RIFF\0\0\0\0WAVE" + tail)
    except SoundFileError:
        pass
