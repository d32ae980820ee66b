"""Rates are whole cents: every amount the cents shortcut reads, Decimal reads to the same cent."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from premium_hotline.core import law
from premium_hotline.core.numbers import decimal_cents, euros, parse_rate, plain_cents, surcharge_problem


def outcome(parse, text: str):
    try:
        return ("ok", parse(text))
    except ValueError as exc:
        return ("error", str(exc))
    except ArithmeticError as exc:  # InvalidOperation from quantize past Decimal's precision
        return ("arithmetic", type(exc).__name__)


DIGITS = st.text("0123456789", min_size=0, max_size=32)
AMOUNTS = st.one_of(
    st.builds(lambda w, f: f"{w}.{f}", DIGITS, DIGITS),
    st.builds(lambda w, f: f"{w},{f}", DIGITS, st.text("0123456789", max_size=3)),
    DIGITS,
    st.text("0123456789.,-+eE_ ٣²nNaIif", max_size=12),
    st.text(max_size=8),
)


@settings(max_examples=1500)
@given(amount=AMOUNTS)
@example(amount="99999999999999999999")
@example(amount="999999999999999999999999999")
@example(amount="1e-1")
@example(amount="5.")
@example(amount="٣")
@example(amount="0.800")
def test_the_cents_shortcut_reads_what_decimal_reads_or_leaves_it_to_decimal(amount: str) -> None:
    fast = plain_cents(amount.strip().replace(",", "."))
    exact = outcome(decimal_cents, amount)
    assert fast is None or exact == ("ok", fast)


@settings(max_examples=500)
@given(amount=AMOUNTS, unit=st.sampled_from(["min", "minute", "call", "appel", " MIN "]))
def test_a_rate_writes_its_amount_with_two_places_as_decimal_does(amount: str, unit: str) -> None:
    try:
        rate = parse_rate(f"{amount}/{unit}")
    except (ValueError, ArithmeticError):
        return
    if rate is not None:
        assert str(rate) == f"{rate.amount:.2f}/{rate.unit}"
        assert rate.amount.as_tuple().exponent == -2  # two places, as billing expects
        assert rate.cents == int(decimal_cents(amount)) > 0


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
