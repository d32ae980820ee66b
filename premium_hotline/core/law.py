"""Which numbers the law lets a service surcharge at all, and when a price message is owed.

Pure: no I/O. The config asks these questions once at load time, so a call's decision only
reads the answer the entry carries (core/tariff.py: reason `not_surchargeable`). The texts
behind each rule, their dates and what the plugin cannot do about them: docs/law.md.

"Surcharged" here means a configured `rate` above zero: the S of Arcep's C+S on an 081, 082 or
089 number (core/numbers.py refuses a rate on any other range on its own).
"""

from __future__ import annotations

from .numbers import euros

# What a number is for, as the administrator declares it (`purpose`).
PURPOSES = ("sales", "information", "advice", "after_sales", "complaint", "contract", "operator_support")

LAW_IN_FORCE = "fr"
PROPOSAL_2012 = "proposal-2012"
REGIMES = (LAW_IN_FORCE, PROPOSAL_2012)

L121_16 = "consumer code L.121-16"
L224_38 = "consumer code L.224-38"
ARRETE_2009 = "arrêté of 10 June 2009"
ARCEP_2012_0856 = "Arcep decision 2012-0856"

# Purposes a surcharge is forbidden on, and the rule that forbids it.
_NOT_SURCHARGEABLE = {
    "after_sales": L121_16,
    "complaint": L121_16,
    "contract": L121_16,
    "operator_support": L224_38,
}
_WHAT = {
    L121_16: "a number for the performance of a contract or for complaints",
    L224_38: "an electronic-communications provider's after-sales, support or complaints number",
}

PRICE_MESSAGE_ABOVE_CENTS = 15  # per minute or per call
PRICE_MESSAGE_MIN_S = 10.0


def surcharge_bar(purpose: str, regime: str) -> str:
    """The rule that forbids any surcharge on a number for `purpose`, or '' when none does.

    Under `proposal-2012` (never law) operator support may be surcharged, but only when every
    premium criterion is proven for the call: see `needs_proof`.
    """
    if regime == PROPOSAL_2012 and purpose == "operator_support":
        return ""
    return _NOT_SURCHARGEABLE.get(purpose, "")


def needs_proof(purpose: str, regime: str) -> bool:
    """Premium only on evidence: a failure (Redis, AGI, config) never falls to a premium fail_tariff."""
    return regime == PROPOSAL_2012 and purpose == "operator_support"


def forbidden_problem(purpose: str, rule: str, rate: object) -> str:
    """The config line for a surcharge on a number whose purpose forbids it."""
    return f"{rate} on a {purpose} number: no surcharge is allowed on {_WHAT[rule]} ({rule})"


def price_message_required(rate) -> bool:
    """A number priced above 0.15 EUR per minute or per call opens with a free price message."""
    return rate is not None and rate.cents > PRICE_MESSAGE_ABOVE_CENTS


def missing_price_message_problem(rate: object) -> str:
    return (
        f"required: {rate} is above {euros(PRICE_MESSAGE_ABOVE_CENTS)} EUR, so calls must start with a free "
        f"price message of at least {PRICE_MESSAGE_MIN_S:.0f} s, skippable with # ({ARRETE_2009})"
    )


def short_price_message_problem(path: str, seconds: float) -> str:
    return (
        f"{path} lasts {seconds:.1f} s; a price message lasts at least {PRICE_MESSAGE_MIN_S:.0f} s "
        f"({ARRETE_2009})"
    )


def undeclared_purpose_warning(rate: object) -> str:
    return (
        f"warning: {rate} is a surcharge on a number with no purpose declared; a surcharge is lawful "
        f"only for sales, pre-sale information or paid advice ({L121_16}): set purpose"
    )


def proposal_warning() -> str:
    return (
        "warning: proposal-2012 is the 2012 proposal, which never became law: it lets operator_support "
        f"numbers be surcharged, which {L224_38} forbids; regime = fr is the law in force"
    )


def varying_rate_problem() -> str:
    return (
        "one fixed rate per number: a surcharge is the same at every hour and from every operator "
        f"({ARCEP_2012_0856}); write one rate, e.g. 0.80/min or 3.00/call"
    )
