"""Rates are whole cents: every rate text reads as Decimal read it, to the cent and to the error."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from hypothesis import example, given, settings
from hypothesis import strategies as st

from premium_hotline.core import law
from premium_hotline.core.numbers import euros, parse_rate, surcharge_problem


def decimal_rate(text: str):
    """The Decimal parse as it was before rates became cents: the oracle, (amount, unit) or None."""
    text = text.strip().lower()
    if text in ("", "0", "0.00", "free", "none"):
        return None
    amount_text, sep, unit = text.partition("/")
    unit = {"min": "min", "minute": "min", "mn": "min", "call": "call", "appel": "call"}.get(unit.strip())
    if not sep or unit is None:
        raise ValueError(f"{text!r} is not a rate: write it as 0.80/min or 3.00/call")
    try:
        amount = Decimal(amount_text.strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{amount_text.strip()!r} is not an amount in euros") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{amount_text.strip()!r} is not an amount in euros")
    if amount.as_tuple().exponent < -2:
        raise ValueError(f"{amount_text.strip()} has more than two decimals (euro cents)")
    if amount == 0:
        return None
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), unit


def outcome(parse, text: str):
    try:
        return ("ok", parse(text))
    except ValueError as exc:
        return ("error", str(exc))
    except ArithmeticError as exc:  # InvalidOperation from quantize past Decimal's precision
        return ("arithmetic", type(exc).__name__)


def as_pair(rate):
    return None if rate is None else (rate.amount, rate.unit)


DIGITS = st.text("0123456789", min_size=0, max_size=32)
AMOUNTS = st.one_of(
    st.builds(lambda w, f: f"{w}.{f}", DIGITS, DIGITS),
    st.builds(lambda w, f: f"{w},{f}", DIGITS, st.text("0123456789", max_size=3)),
    DIGITS,
    st.text("0123456789.,-+eE_ ٣²nNaIif", max_size=12),
    st.text(max_size=8),
)
UNITS = st.sampled_from(["min", "minute", "mn", "call", "appel", " MIN ", "", "hour", "min/x"])


@settings(max_examples=1500)
@given(
    amount=AMOUNTS,
    unit=UNITS,
    sep=st.sampled_from(["/", " / ", "", "//"]),
    pad=st.sampled_from(["", " ", "\t"]),
)
@example(amount="99999999999999999999", unit="min", sep="/", pad="")
@example(amount="999999999999999999999999999", unit="min", sep="/", pad="")
@example(amount="1e-1", unit="call", sep="/", pad="")
@example(amount="5.", unit="call", sep="/", pad="")
@example(amount="٣", unit="call", sep="/", pad="")
def test_every_rate_text_reads_as_decimal_read_it(amount: str, unit: str, sep: str, pad: str) -> None:
    text = f"{pad}{amount}{sep}{unit}{pad}"
    ours = outcome(lambda t: as_pair(parse_rate(t)), text)
    assert ours == outcome(decimal_rate, text)
    if ours[0] == "ok" and ours[1] is not None:
        assert str(parse_rate(text)) == f"{ours[1][0]:.2f}/{ours[1][1]}"
        assert str(ours[1][0]) == f"{ours[1][0]:.2f}"  # two places, as billing expects


@given(st.integers(0, 10**22))
def test_euros_writes_cents_as_decimal_formats_them(cents: int) -> None:
    assert euros(cents) == f"{Decimal(cents) / 100:.2f}"


@given(st.integers(1, 400), st.sampled_from(["min", "call"]), st.sampled_from(["081", "082", "089"]))
def test_caps_and_the_price_message_compare_cents_as_decimals_compared(
    cents: int, unit: str, prefix: str
) -> None:
    rate = parse_rate(f"{euros(cents)}/{unit}")
    caps = {"081": ("0.06", "0.15"), "082": ("0.20", "0.50"), "089": ("0.80", "3.00")}[prefix]
    cap = Decimal(caps[0] if unit == "min" else caps[1])
    assert (surcharge_problem(prefix + "1234567", rate) is not None) == (rate.amount > cap)
    assert law.price_message_required(rate) == (rate.amount > Decimal("0.15"))
