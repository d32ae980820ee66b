"""The SIP side of the e2e set-up: one queue and one number per scenario, and the agents' phones.

Each scenario of tests/e2e/test_sip_calls.py has a number and a queue of its own, with agents of
its own, so the scenarios run as parallel calls in one Asterisk without waiting for each other
(ringinuse is off: an agent on a call is not ringed again).
"""

from __future__ import annotations

# agent name -> behaviour (seconds to answer, None: rings until cancelled; reject: a SIP code)
AGENTS: dict[str, dict] = {
    "sip-one": {"answer_after_s": 1.5},
    "sip-slow": {"answer_after_s": 4.0},
    "sip-free": {"answer_after_s": 1.0},
    "sip-ivr": {"answer_after_s": 1.0},
    "sip-never": {"answer_after_s": None},
    "sip-never-hunt": {"answer_after_s": None},
    "sip-hunt": {"answer_after_s": 1.0},
    "sip-busy": {"reject": 486},
    "sip-busy-next": {"answer_after_s": 1.0},
    "sip-paused": {"answer_after_s": 1.0},
    "sip-ring-fast": {"answer_after_s": 1.0},
    "sip-ring-slow": {"answer_after_s": 3.0},
    "sip-rr1": {"answer_after_s": 1.0},
    "sip-rr2": {"answer_after_s": 1.0},
    "sip-imm": {"answer_after_s": 2.0},
    "sip-never-max": {"answer_after_s": None},
}

# queue -> (strategy, members in order, extra settings)
_QUEUES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "sip-one": ("ringall", ("sip-one",), ""),
    "sip-slow": ("ringall", ("sip-slow",), ""),
    "sip-nobody": ("ringall", (), ""),
    "sip-free": ("ringall", ("sip-free",), ""),
    "sip-ivr": ("ringall", ("sip-ivr",), ""),
    "sip-abandon": ("ringall", ("sip-never",), ""),
    "sip-hunt": ("linear", ("sip-never-hunt", "sip-hunt"), "timeout = 2\n"),
    "sip-busy": ("linear", ("sip-busy", "sip-busy-next"), "timeout = 5\n"),
    "sip-paused": ("ringall", ("sip-paused",), ""),
    "sip-ringall": ("ringall", ("sip-ring-fast", "sip-ring-slow"), ""),
    "sip-rr": ("rrmemory", ("sip-rr1", "sip-rr2"), ""),
    "sip-imm": ("ringall", ("sip-imm",), ""),
    "sip-early-max": ("ringall", ("sip-never-max",), ""),
}

QUEUES = "\n" + "".join(
    f"[{name}]\nstrategy = {strategy}\n" + (extra or "timeout = 30\n") + "retry = 1\nringinuse = no\n"
    "setinterfacevar = yes\njoinempty = yes\nleavewhenempty = no\nwrapuptime = 0\n"
    + "".join(f"member => PJSIP/{m}\n" for m in members)
    + "\n"
    for name, (strategy, members, extra) in _QUEUES.items()
)

# number -> (queue, the rest of its section); the price message's name is formatted in.
_NUMBERS: dict[str, tuple[str, str]] = {
    "0899500001": ("sip-one", "rate = 0.80/min\nannounce = {price}\n"),
    "0899500002": ("sip-slow", "rate = 0.80/min\ncommitment_s = 4\nannounce = {price}\n"),
    "0899500003": ("sip-nobody", "rate = 0.80/min\n"),
    "0805500004": ("sip-free", ""),
    "0826500005": ("sip-ivr", "rate = 0.15/min\nivr = yes\n"),
    "0899500006": ("sip-abandon", "rate = 0.80/min\n"),
    "0899500007": ("sip-hunt", "rate = 2.99/call\n"),
    "0899500008": ("sip-busy", "rate = 0.80/min\n"),
    "0899500009": ("sip-paused", "rate = 0.80/min\n"),
    "0899500010": ("sip-ringall", "rate = 0.80/min\n"),
    "0899500011": ("sip-rr", "rate = 0.80/min\n"),
    "0899500012": ("sip-imm", "rate = 0.80/min\nanswer = immediate\n"),
    "0899500013": ("sip-early-max", "rate = 0.80/min\nearly_media_max_s = 5\n"),
}

NUMBERS = "".join(f"\n[{number}]\nqueue = {queue}\n{rest}" for number, (queue, rest) in _NUMBERS.items())


def add_agents(network) -> None:
    for name, behaviour in AGENTS.items():
        network.add_agent(name, **behaviour)
