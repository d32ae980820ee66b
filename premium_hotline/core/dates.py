"""datetime's classes, from the C module that `datetime` itself re-exports when it can.

Why: `import datetime` first runs datetime.py, which defines the whole pure-Python fallback
(and imports operator and math for it) before replacing it with `_datetime`'s classes: a cost a
plain AGI process pays on every call for classes it never uses. The classes are the same objects
(`datetime.date is _datetime.date`); an interpreter without `_datetime` gets datetime's.
"""

from __future__ import annotations

try:
    from _datetime import date, datetime, timedelta, timezone
except ImportError:  # pragma: no cover - CPython always has it
    from datetime import date, datetime, timedelta, timezone

__all__ = ["date", "datetime", "timedelta", "timezone"]
