"""French number ranges, surcharge caps and Asterisk-style number patterns.

Pure functions: no I/O. The caps are the ones Arcep set for special-rate numbers (decision
2012-0856): a rate above the cap of its range is illegal, so the configuration refuses it and the
decision core re-checks it for the number actually dialled.
"""

from __future__ import annotations

# Money is whole euro cents (ints) here: exact like Decimal, and a plain AGI process, which reads
# every rate of the config on each call, does not import decimal for it (`Rate.amount` does).

# prefix: (per-minute cap, per-call cap) in cents. No cap means no surcharge is allowed at all.
_SURCHARGE_CAPS = {
    "081": (6, 15),
    "082": (20, 50),
    "089": (80, 300),
}
_FREE_PREFIXES = ("0800", "0801", "0802", "0803", "0804", "0805")
_NORMAL_PRICE_PREFIXES = ("0806", "0807", "0808", "0809")

FREE_RANGE = "free"  # 0800-0805: free for the caller, never surcharged
NORMAL_RANGE = "normal"  # 0806-0809 and every non-08 number: normal call price, no surcharge
SURCHARGED_RANGE = "surcharged"  # 081, 082, 089: a service surcharge within the cap


def national(number: str) -> str:
    """The national (0XXXXXXXXX) form of a French number, or the digits as given.

    Trunks hand the DID over in many shapes (+33..., 0033..., 33...); rules and ranges are written
    for the national form that French administrators and Arcep use.
    """
    digits = number.strip().replace(" ", "").replace(".", "").replace("-", "")
    if digits.startswith("+33"):
        return "0" + digits[3:]
    if digits.startswith("0033"):
        return "0" + digits[4:]
    if digits.startswith("33") and len(digits) == 11:
        return "0" + digits[2:]
    return digits


def number_range(number: str) -> str:
    """Which regulatory range a national number belongs to."""
    if number.startswith(_FREE_PREFIXES):
        return FREE_RANGE
    if number[:3] in _SURCHARGE_CAPS:
        return SURCHARGED_RANGE
    return NORMAL_RANGE


def euros(cents: int) -> str:
    """`0.80` for 80 cents: what f"{Decimal('0.80'):.2f}" writes, for amounts of zero or more."""
    return f"{cents // 100}.{cents % 100:02d}"


class Rate:
    """A service surcharge: an amount per minute or per call, never both (Arcep)."""

    __slots__ = ("cents", "unit")

    def __init__(self, cents: int, unit: str) -> None:
        self.cents = cents
        self.unit = unit

    @property
    def amount(self):
        """The amount in euros as a Decimal with two places, for billing arithmetic."""
        from decimal import Decimal

        return Decimal(euros(self.cents))

    def __str__(self) -> str:
        return f"{euros(self.cents)}/{self.unit}"

    def __repr__(self) -> str:
        return f"Rate({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rate) and (self.cents, self.unit) == (other.cents, other.unit)

    def __hash__(self) -> int:
        return hash((self.cents, self.unit))


def parse_rate(text: str) -> Rate | None:
    """Parse `0.80/min` or `3.00/call`; empty or zero means no surcharge.

    Raises ValueError with a message fit for a config error line.
    """
    text = text.strip().lower()
    if text in ("", "0", "0.00", "free", "none"):
        return None
    amount_text, sep, unit = text.partition("/")
    unit = {"min": "min", "minute": "min", "mn": "min", "call": "call", "appel": "call"}.get(unit.strip())
    if not sep or unit is None:
        raise ValueError(f"{text!r} is not a rate: write it as 0.80/min or 3.00/call")
    cents = plain_cents(amount_text.strip().replace(",", "."))
    if cents is None:
        cents = decimal_cents(amount_text)
    return Rate(cents, unit) if cents else None


def plain_cents(text: str) -> int | None:
    """`0.80`, `3` or `2.5` (ASCII digits, at most two decimals) in cents; None for any other
    spelling, which Decimal judges (tests/unit/test_rate_cents.py: the same answers)."""
    whole, dot, fraction = text.partition(".")
    if not (whole.isascii() and whole.isdigit() and len(whole) <= 20 and len(fraction) <= 2):
        return None
    if dot and not (fraction.isascii() and fraction.isdigit()):
        return None
    return int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)


def decimal_cents(amount_text: str) -> int:
    """Every spelling Decimal reads (`.5`, `1e-1`, `0.800`...), in cents; ValueError otherwise."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    try:
        amount = Decimal(amount_text.strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{amount_text.strip()!r} is not an amount in euros") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{amount_text.strip()!r} is not an amount in euros")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"{amount_text.strip()} has more than two decimals (euro cents)")
    if amount == 0:
        return 0
    return int(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def surcharge_problem(number_prefix: str, rate: Rate | None) -> str | None:
    """Why `rate` is illegal on numbers starting with `number_prefix`, or None when it is legal.

    `number_prefix` is a national number or the literal head of a pattern: three digits are
    enough to know the range, except for 080x which needs four.
    """
    if rate is None:
        return None
    if number_prefix.startswith(_FREE_PREFIXES):
        return "no surcharge is allowed on the free range 0800-0805"
    if number_prefix.startswith(_NORMAL_PRICE_PREFIXES):
        return "no surcharge is allowed on 0806-0809 (normal call price)"
    caps = _SURCHARGE_CAPS.get(number_prefix[:3])
    if caps is None:
        if len(number_prefix) < 3 or (number_prefix.startswith("080") and len(number_prefix) < 4):
            return "a surcharge needs a number or pattern whose range (081, 082, 089) is fixed"
        return "a surcharge is only allowed on 081, 082 and 089 numbers"
    cap = caps[0] if rate.unit == "min" else caps[1]
    if rate.cents > cap:
        return (
            f"{rate} is above the legal cap of {euros(cap)}/{rate.unit} for {number_prefix[:3]} numbers "
            "(Arcep decision 2012-0856)"
        )
    return None


# ---- Asterisk extension patterns -----------------------------------------------------------

_CLASS = {"X": "0123456789", "Z": "123456789", "N": "23456789"}
_WILDCARD_WEIGHT = 100  # '.' and '!' match anything: least specific


def _pattern_tokens(pattern: str) -> list[str]:
    """Split `_0899XXX[1-5].` into one token per matched character (a set of digits, or . / !)."""
    tokens: list[str] = []
    i = 0
    body = pattern[1:]
    while i < len(body):
        ch = body[i]
        if ch in _CLASS:
            tokens.append(_CLASS[ch])
        elif ch in ".!":
            tokens.append(ch)
        elif ch == "[":
            end = body.find("]", i)
            if end < 0:
                raise ValueError(f"unclosed [ in pattern {pattern!r}")
            chars = ""
            spec = body[i + 1 : end]
            j = 0
            while j < len(spec):
                if j + 2 < len(spec) and spec[j + 1] == "-":
                    lo, hi = spec[j], spec[j + 2]
                    chars += "".join(chr(c) for c in range(ord(lo), ord(hi) + 1))
                    j += 3
                else:
                    chars += spec[j]
                    j += 1
            if not chars:
                raise ValueError(f"empty [] in pattern {pattern!r}")
            tokens.append(chars)
            i = end
        elif ch.isdigit() or ch in "*#+":
            tokens.append(ch)
        else:
            raise ValueError(f"{ch!r} is not allowed in pattern {pattern!r}")
        i += 1
    return tokens


class NumberPattern:
    """A dialled number or an Asterisk pattern (`_0899XXXXXX`), ordered by specificity.

    Asterisk picks the most specific pattern that matches; so do we, with the same idea: position
    by position, a literal beats a digit class, a smaller class beats a larger one, and `.`/`!`
    come last. An exact number beats every pattern.
    """

    __slots__ = ("literal_head", "specificity", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        if text.startswith("_"):
            self.tokens = _pattern_tokens(text)
        else:
            self.tokens = list(text)
        weights = [_WILDCARD_WEIGHT if tok in (".", "!") else len(tok) for tok in self.tokens]
        # Exact numbers sort before patterns; then position by position.
        self.specificity = (0 if not text.startswith("_") else 1, weights)
        head = []
        for tok in self.tokens:
            if len(tok) == 1 and tok not in ".!":
                head.append(tok)
            else:
                break
        self.literal_head = "".join(head)

    def matches(self, number: str) -> bool:
        return _match(self.tokens, 0, number, 0)

    def __repr__(self) -> str:
        return f"NumberPattern({self.text!r})"


def _match(tokens: list[str], ti: int, number: str, ni: int) -> bool:
    while ti < len(tokens):
        tok = tokens[ti]
        if tok == ".":
            return ni < len(number)
        if tok == "!":
            return True
        if ni >= len(number) or number[ni] not in tok:
            return False
        ti += 1
        ni += 1
    return ni == len(number)


def most_specific(patterns: list[NumberPattern], number: str) -> NumberPattern | None:
    """The pattern Asterisk would pick for `number`, or None."""
    best: NumberPattern | None = None
    for pattern in patterns:
        if pattern.matches(number) and (best is None or pattern.specificity < best.specificity):
            best = pattern
    return best
