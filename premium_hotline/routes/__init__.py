"""AGI routes: one module per route, one `handle(call)` coroutine each, registered by name.

The registry maps a route name (the script's name, or the FastAGI path) to its module, imported
only when that route runs: a plain AGI process pays for its own route and nothing else.
"""

from __future__ import annotations

ROUTES = {
    "decide_tariff": "premium_hotline.routes.decide_tariff",
    "agent_answered": "premium_hotline.routes.agent_answered",
    "call_ended": "premium_hotline.routes.call_ended",
}


class UnknownRoute(LookupError):
    pass


def route_name(request: str) -> str:
    """`decide_tariff`, `decide_tariff.py`, `/usr/share/asterisk/agi-bin/decide_tariff.py` or a
    FastAGI script path `decide_tariff?x=1` all name the same route."""
    name = request.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(".py"):
        name = name[:-3]
    return name


def get_handler(request: str):
    name = route_name(request)
    module = ROUTES.get(name)
    if module is None:
        raise UnknownRoute(f"no AGI route named {name!r} (known: {', '.join(sorted(ROUTES))})")
    # __import__, not importlib.import_module: the same import, without importing importlib.
    return __import__(module, fromlist=("handle",)).handle
