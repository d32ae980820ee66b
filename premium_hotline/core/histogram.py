"""Wait-time histogram buckets: exact counts that merge across minutes and queues.

A percentile over any window is read from summed bucket counts, so it never depends on how the
window is cut (a moving average like Asterisk's QUEUEHOLDTIME cannot do that). Buckets are 50 ms
wide below one second, then grow by 2^(1/16) (4.4 %) per bucket up to about 3 hours. Reporting a
bucket's geometric middle bounds the error of any percentile to 25 ms below one second and 2.25 %
above it. Bounds are integers computed once, identical on every machine.
"""

from __future__ import annotations

from bisect import bisect_right

_LINEAR_MS = 50
_LINEAR_BUCKETS = 20  # 0 ... 999 ms
_STEPS_PER_OCTAVE = 16
_OCTAVES = 14  # 1 s * 2^14 = 4.5 hours

# UPPER[i] is the exclusive upper bound (ms) of bucket i.
UPPER: list[int] = [_LINEAR_MS * (i + 1) for i in range(_LINEAR_BUCKETS)] + [
    round(1000 * 2 ** ((i + 1) / _STEPS_PER_OCTAVE)) for i in range(_OCTAVES * _STEPS_PER_OCTAVE)
]
LOWER: list[int] = [0, *UPPER[:-1]]
LAST = len(UPPER) - 1

# Half a bucket in ratio is 2^(1/32) - 1 = 2.19 %; integer bounds widen a few buckets a hair.
RELATIVE_ERROR = 0.0225
ABSOLUTE_ERROR_MS = _LINEAR_MS // 2


def bucket(ms: int) -> int:
    """The bucket holding a wait of `ms` milliseconds (negative clamps to 0, huge to the last)."""
    if ms < 0:
        return 0
    return min(bisect_right(UPPER, ms), LAST)


def representative(index: int) -> float:
    """The value reported for a bucket: the middle that bounds the error on both sides."""
    lo, hi = LOWER[index], UPPER[index]
    if index < _LINEAR_BUCKETS:
        return (lo + hi) / 2
    return (lo * hi) ** 0.5


def percentile(counts: dict[int, int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of the waits whose bucket counts are given; None if empty.

    Uses the nearest-rank definition: the smallest value with at least q of the calls at or
    below it, reported as its bucket's middle.
    """
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, -(-int(q * total * 1_000_000) // 1_000_000))  # ceil(q * total) without floats drifting
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return representative(index)
    return representative(max(counts))
