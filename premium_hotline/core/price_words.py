"""What the price message says, in French words a speech synthesiser reads right.

Pure. The arrêté of 10 June 2009 asks the message for the price of the service and of the call
and for a way to skip it (#). Amounts are spelt out ("quatre-vingts centimes d'euro") because
a synthesiser reads "0,80 €" as "zéro virgule quatre-vingts euros".
"""

from __future__ import annotations

_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
          "onze", "douze", "treize", "quatorze", "quinze", "seize"]  # fmt: skip
_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def french_number(n: int) -> str:
    """0 to 999 in words, with the 1990 hyphens ("quatre-vingt-dix-neuf")."""
    if not 0 <= n <= 999:
        raise ValueError(f"{n} is out of range (0 to 999)")
    if n >= 100:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{_UNITS[hundreds]}-cent" + ("s" if rest == 0 else "")
        return head if rest == 0 else f"{head}-{french_number(rest)}"
    if n <= 16:
        return _UNITS[n]
    if n < 20:
        return f"dix-{_UNITS[n - 10]}"
    tens, unit = divmod(n, 10)
    if tens in (7, 9):  # soixante-dix..., quatre-vingt-dix...
        base = "soixante" if tens == 7 else "quatre-vingt"
        joiner = "-et-" if n == 71 else "-"
        return f"{base}{joiner}{french_number(10 + unit)}"
    if tens == 8:
        return "quatre-vingts" if unit == 0 else f"quatre-vingt-{_UNITS[unit]}"
    if unit == 0:
        return _TENS[tens]
    return f"{_TENS[tens]}-et-un" if unit == 1 else f"{_TENS[tens]}-{_UNITS[unit]}"


def french_euros(amount) -> str:
    """An amount in euros as spoken: "deux euros quatre-vingt-dix-neuf", "quinze centimes d'euro"."""
    cents_total = int((amount * 100).to_integral_value())
    euros, cents = divmod(cents_total, 100)
    if euros == 0:
        return f"{french_number(cents)} centime{'s' if cents > 1 else ''} d'euro"
    spoken = f"{french_number(euros)} euro{'s' if euros > 1 else ''}"
    return f"{spoken} {french_number(cents)}" if cents else spoken


def price_message_text(rate) -> str:
    """The service price, that the call's own price comes on top, and that # skips the message."""
    unit = "par minute" if rate.unit == "min" else "par appel"
    return (
        f"Bienvenue. Ce service est facturé {french_euros(rate.amount)} {unit}, "
        "auquel s'ajoute le prix de l'appel. "
        "Pour passer ce message, appuyez sur la touche dièse."
    )
