"""What a route handler gets: the AGI session, the store, the config, a log and a clock.

Also the few helpers all routes share: reading several channel values in one exchange, the
Asterisk clock, the caller's privacy-preserving identity, and the CDR userfield format.
"""

from __future__ import annotations

import time

from ..agi.protocol import AgiError, AgiProtocolError, AgiUsageError
from ..core.codes import PLAIN_NAME_CHARS, PREMIUM
from ..store.keys import MAX_TAG, Keys


class ValuesMismatch(AgiProtocolError):
    """GET FULL VARIABLE answered, but not with the values asked for: the stream is still in step."""


# Replies after which the exchange is still in step, so a route may go on with a fallback. A
# timeout or garbage is different: a late reply would be read as the answer to the next command,
# so the route stops and the dialplan's AGISTATUS fallback takes over.
RECOVERABLE = (ValuesMismatch, AgiUsageError)

# Asterisk's own clock in epoch milliseconds (ast_strftime's %3q): timestamps then come from the
# PBX even when the FastAGI server runs on another machine with a different clock.
NOW = "${STRFTIME(,,%s%3q)}"
# What decide_tariff left on the channel and the member Queue() connected: both later routes
# read it (in their one GET FULL VARIABLE, with their own values added).
CALL_MARKS = {
    "arrived": "${PH_ARRIVED_MS}",
    "queued": "${PH_QUEUED_MS}",
    # The member gosub's stamp: the answer is known even if agent_answered never ran.
    "stamped": "${SHARED(PH_HUMAN_MS)}",
    "tariff": "${PH_TARIFF}",
    "decided": "${PH_DECIDED}",
    "promise": "${PH_PROMISE}",
    "reason": "${PH_REASON}",
    "rate": "${PH_RATE}",
    "commitment": "${PH_COMMITMENT_S}",
    "queue": "${PH_QUEUE}",
    "did": "${PH_DID}",
    # Set on the caller's channel by Queue() (setinterfacevar = yes) once a member answered.
    "member": "${MEMBERINTERFACE}",
    "member_name": "${MEMBERNAME}",
    "rang": "${SHARED(PH_RANG_AT)}",
    "now": NOW,
}
SEPARATOR = "|"  # never in our PH_* values, queue names (validated) or numbers
_UID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-")
# What the config accepts in a queue name (config._name): a PH_QUEUE read back from the channel
# is used only if decide_tariff (or the operator's dialplan) could have written it.
_QUEUE_CHARS = PLAIN_NAME_CHARS


class Call:
    def __init__(self, agi, store, config, log, clock_ms=None, route: str = "") -> None:
        self.agi = agi
        self.store = store
        self.config = config
        self.log = log
        self.route = route
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._uid: str | None = None

    @property
    def general(self):
        return self.config.general

    @property
    def uniqueid(self) -> str:
        """The channel's uniqueid, usable as a Redis key part; anything else is replaced.

        Asterisk sends `1700000000.42`; a hostile FastAGI peer could send braces or spaces
        that would move the key to another slot or another name.
        """
        uid = self._uid
        if uid is None:
            raw = self.agi.env.get("agi_uniqueid", "")
            if raw and len(raw) <= 64 and _UID_CHARS.issuperset(raw):
                uid = raw
            else:
                import hashlib

                uid = "x" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:24]
            self._uid = uid  # the environment is read once, before any route asks
        return uid

    def clock_ms(self) -> int:
        return self._clock_ms()

    def asterisk_ms(self, text: str) -> int:
        """Asterisk's clock from a NOW expansion, or ours when the PBX gave nothing usable."""
        own = self._clock_ms()
        try:
            value = int(text)
        except (TypeError, ValueError):
            return own
        return value if abs(value - own) < 86_400_000 else own

    async def read(self, expressions: dict[str, str]) -> dict[str, str]:
        """Several values in one GET FULL VARIABLE exchange: one round trip to Asterisk."""
        names = list(expressions)
        text = await self.agi.get(SEPARATOR.join(expressions[name] for name in names))
        parts = text.split(SEPARATOR)
        if len(parts) != len(names):
            raise ValuesMismatch(f"expected {len(names)} values, got {len(parts)}: {text[:80]!r}")
        return dict(zip(names, parts, strict=True))

    def batch_of(self) -> dict:
        """What every route's batch builder (store/records.py) takes of this call and the config."""
        general = self.general
        keys = Keys(general.key_prefix)
        return {
            "keys": keys,
            "uniqueid": self.uniqueid,
            "ttl_s": general.record_ttl_s,
            "events_maxlen": general.events_maxlen,
        }

    async def tell(self, variables: dict[str, object], cdr: dict[str, object]) -> AgiError | None:
        """The hang-up routes' one SET exchange: their variables, then CDR(userfield) (`userfield`).

        Their call is over or about to be bridged, and everything its record needs was read: if
        Asterisk breaks off now (EOF, HANGUP, 511, a timeout) the record is written all the same,
        only the variables not yet set are lost. So the error is returned, for the route to raise
        once the record is written (the runner then says how the exchange ended).
        """
        try:
            for name, value in variables.items():
                await self.agi.set(name, value)
            await self.agi.set("CDR(userfield)", userfield(**cdr))
            await self.agi.close()
        except AgiError as exc:
            return exc
        return None

    def caller_identity(self) -> str | None:
        """The caller's number as the config allows it to be stored: a keyed hash, clear, or nothing."""
        general = self.general
        number = self.agi.env.get("agi_callerid", "")
        if not number or number == "unknown" or general.caller_privacy == "none":
            return None
        if general.caller_privacy == "clear":
            return number[:64]
        return hmac_sha256_hex(general.caller_hash_key, number.encode("utf-8", "replace"))[:20]


_SHA256 = None  # found on the first digest: a failed import is a file-system search every time


def _sha256():
    """The interpreter's built-in SHA-256: `hashlib` (and `hmac`) load OpenSSL's libcrypto first,
    tens of milliseconds a plain AGI process would pay on every call for one digest."""
    global _SHA256
    if _SHA256 is None:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:
            try:
                from _sha256 import sha256  # Python 3.11
            except ImportError:  # an interpreter without the built-in module
                from hashlib import sha256
        _SHA256 = sha256
    return _SHA256


_PADS: dict[bytes, tuple[bytes, bytes]] = {}  # the key's inner and outer pads (one key per config)


def hmac_sha256_hex(key: bytes, data: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) as hexadecimal, the same digest as hmac.new(key, data, sha256)."""
    sha256 = _sha256()
    pads = _PADS.get(key)
    if pads is None:
        block = (sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        pads = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
        if len(_PADS) < 16:  # a reload may change the key; a handful at most
            _PADS[key] = pads
    inner = sha256(pads[0] + data).digest()
    return sha256(pads[1] + inner).hexdigest()


def channel_queue(text: str, default: str = "") -> str:
    """A queue name read from the channel (`${PH_QUEUE}`), or `default` when it is not one.

    The value comes from Asterisk, so from whoever can set channel variables: a name with
    braces, spaces or kilobytes of text must not become a Redis key part or a KPI row.
    """
    text = text.strip()
    if text and len(text) <= MAX_TAG and _QUEUE_CHARS.issuperset(text):
        return text
    return default


def userfield(*, tariff: str, reason: str, rate: str, did: str, **more) -> str:
    """CDR(userfield) for billing systems: `ph;tariff=premium;reason=premium;rate=0.80/min;...`.
    The rate only on a premium call: a billing system must not read a price into a free one."""
    fields = {
        "tariff": tariff,
        "reason": reason,
        "rate": rate if tariff == PREMIUM else "",
        "did": did,
        **more,
    }
    return "ph;" + ";".join(f"{key}={value}" for key, value in fields.items() if value not in (None, ""))


def as_int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
