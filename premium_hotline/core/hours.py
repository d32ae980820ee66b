"""Business hours and French public holidays.

A premium call promises a person on the line, which only holds while the call centre is staffed:
outside its hours, on a public holiday or a closing day, the decision falls to free.
Pure: the caller passes the local date and time; nothing here reads the clock.
"""

from __future__ import annotations

from .dates import date, timedelta

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    "mon": 0,
    "monday": 0,
    "lun": 0,
    "tue": 1,
    "tuesday": 1,
    "mar": 1,
    "wed": 2,
    "wednesday": 2,
    "mer": 2,
    "thu": 3,
    "thursday": 3,
    "jeu": 3,
    "fri": 4,
    "friday": 4,
    "ven": 4,
    "sat": 5,
    "saturday": 5,
    "sam": 5,
    "sun": 6,
    "sunday": 6,
    "dim": 6,
}


class Hours:
    """Opening spans per weekday, as minutes since midnight: `mon-fri 08:00-20:00, sat 09:00-12:00`.

    `always` (or no `hours` key at all) means open around the clock.
    """

    __slots__ = ("spans", "text")

    def __init__(self, spans: dict[int, list[tuple[int, int]]], text: str) -> None:
        self.spans = spans
        self.text = text

    def is_open(self, weekday: int, minute_of_day: int) -> bool:
        return any(start <= minute_of_day < end for start, end in self.spans.get(weekday, ()))

    def __repr__(self) -> str:
        return f"Hours({self.text!r})"


ALWAYS = Hours({day: [(0, 24 * 60)] for day in range(7)}, "always")


def _parse_time(text: str, whole: str) -> int:
    hh, sep, mm = text.partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2:
        raise ValueError(f"{text!r} in {whole!r} is not a time: write HH:MM")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > 24 * 60:
        raise ValueError(f"{text!r} in {whole!r} is not a time of day")
    return minutes


def _parse_days(text: str, whole: str) -> list[int]:
    days: list[int] = []
    for part in text.split("+"):
        first, sep, last = part.partition("-")
        try:
            lo = _DAY_ALIASES[first.strip().lower()]
            hi = _DAY_ALIASES[last.strip().lower()] if sep else lo
        except KeyError:
            raise ValueError(
                f"{part!r} in {whole!r} is not a day or day range (mon..sun, e.g. mon-fri)"
            ) from None
        day = lo
        while True:  # ranges may wrap: sat-mon is sat, sun, mon
            days.append(day)
            if day == hi:
                break
            day = (day + 1) % 7
    return days


def parse_hours(text: str) -> Hours:
    """Parse an `hours` value; raises ValueError naming the faulty part."""
    whole = text.strip()
    if whole.lower() in ("", "always", "24/7", "24x7"):
        return ALWAYS
    spans: dict[int, list[tuple[int, int]]] = {}
    for group in whole.split(","):
        words = group.split()
        if len(words) < 2:
            raise ValueError(
                f"{group.strip()!r} in {whole!r} needs days then times, e.g. mon-fri 08:00-20:00"
            )
        days = _parse_days(words[0], whole)
        for span in words[1:]:
            start_text, sep, end_text = span.partition("-")
            if not sep:
                raise ValueError(f"{span!r} in {whole!r} is not a span: write 08:00-20:00")
            start, end = _parse_time(start_text, whole), _parse_time(end_text, whole)
            if end <= start:
                raise ValueError(
                    f"{span!r} in {whole!r} ends before it starts; write a night as two spans "
                    "(mon 22:00-24:00, tue 00:00-06:00)"
                )
            for day in days:
                spans.setdefault(day, []).append((start, end))
    return Hours(spans, whole)


# ---- public holidays ------------------------------------------------------------------------

HOLIDAY_CALENDARS = ("FR", "FR-57", "FR-67", "FR-68", "none")


def easter_sunday(year: int) -> date:
    """Gregorian Easter (anonymous Gregorian algorithm, a.k.a. Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


_HOLIDAYS: dict[tuple[int, str], dict[date, str]] = {}


def public_holidays(year: int, calendar: str = "FR") -> dict[date, str]:
    """The public holidays of metropolitan France; Alsace-Moselle (FR-57/67/68) adds two.

    Worked out once per year and calendar (the server asks for every call); do not modify."""
    known = _HOLIDAYS.get((year, calendar))
    if known is None:
        known = _HOLIDAYS[(year, calendar)] = _public_holidays(year, calendar)
    return known


def _public_holidays(year: int, calendar: str) -> dict[date, str]:
    if calendar == "none":
        return {}
    easter = easter_sunday(year)
    days = {
        date(year, 1, 1): "Jour de l'an",
        easter + timedelta(days=1): "Lundi de Pâques",
        date(year, 5, 1): "Fête du Travail",
        date(year, 5, 8): "Victoire 1945",
        easter + timedelta(days=39): "Ascension",
        easter + timedelta(days=50): "Lundi de Pentecôte",
        date(year, 7, 14): "Fête nationale",
        date(year, 8, 15): "Assomption",
        date(year, 11, 1): "Toussaint",
        date(year, 11, 11): "Armistice 1918",
        date(year, 12, 25): "Noël",
    }
    if calendar in ("FR-57", "FR-67", "FR-68"):
        days[easter - timedelta(days=2)] = "Vendredi saint"
        days[date(year, 12, 26)] = "Saint-Étienne"
    return days


def parse_dates(text: str) -> frozenset[date]:
    """Parse `closed_dates = 2026-12-24, 2026-12-31`."""
    dates = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            dates.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a date: write YYYY-MM-DD") from None
    return frozenset(dates)
