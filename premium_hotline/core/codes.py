"""Tariffs, outcomes and reason codes: each spelled once, here, for every module and the docs.

A branch that adds a code adds it here (a reason to REASONS, an outcome to OUTCOMES), and the
routes, the KPIs, the ops views and the tests pick it up from this module.
"""

from __future__ import annotations

# Tariffs (PH_TARIFF, and the `:<tariff>` of every KPI counter).
PREMIUM = "premium"
FREE = "free"
TARIFFS = (PREMIUM, FREE)

# How a call ended (per-call `outcome`, KPI counters `<outcome>:<tariff>`).
ANSWERED = "answered"
ABANDONED = "abandoned"
SHORT_ABANDON = "short_abandon"
UNANSWERED = "unanswered"  # the queue gave up (timeout, empty, full): the caller did not
# Offered calls the system failed (the PBX died under them; no hang-up ever came), closed by the
# reaper after max_call_s (core/lost.py). Not caller abandons: kept apart from `abandoned`.
LOST = "lost"
OUTCOMES = (ANSWERED, ABANDONED, SHORT_ABANDON, UNANSWERED, LOST)

# Reason codes (PH_REASON): why a call got its tariff. The first that says "free" wins.
REASONS = {
    "premium": "every rule passed",
    "unknown_number": "the dialled number has no section in the config",
    "not_surchargeable": "the law forbids any surcharge on this number's purpose (consumer code"
    " L.121-16, L.224-38); never premium, whatever fail_tariff says (docs/law.md)",
    "free_range": "0800-0805 numbers are free for the caller by law",
    "free_rate": "no surcharge configured for this number (or a normal-price range)",
    "ivr": "the path has a voice menu: premium requires a direct line to a person",
    "site_abroad": "the call centre is outside France",
    "closed": "outside business hours",
    "holiday": "a public holiday or a configured closing day",
    "no_agent_ready": "no queue member can take the call now",
    "predicted_wait": "the caller would likely wait past the committed time",
    "commitment_broken": "set later, when a premium caller reached a human too late",
    "config_error": "the number's config section is broken (fail_tariff applies)",
    "store_unavailable": "recent figures could not be read from Redis in time (fail_tariff applies)",
    "agi_error": "the queue's live state could not be read from Asterisk (fail_tariff applies)",
    "internal_error": "the decision itself failed, a bug (fail_tariff applies)",
    "agi_failure": "set by the dialplan when the AGI did not run at all (free)",
}
# The reasons that say "something failed", not "the rules said so": such a call takes the
# configured fail_tariff (the dialplan's own agi_failure: free), and is logged as a warning.
NOT_SURCHARGEABLE = "not_surchargeable"
COMMITMENT_BROKEN = "commitment_broken"  # the downgrade of a premium caller who waited too long
FAILURE_REASONS = ("config_error", "store_unavailable", "agi_error", "internal_error", "agi_failure")

# The predictor's and the decision's window: history older than this no longer describes a queue.
RECENT_WINDOW_MS = 15 * 60 * 1000

# What a queue or sound name may hold (config), and so what a key's hash tag uses as it is.
PLAIN_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")
