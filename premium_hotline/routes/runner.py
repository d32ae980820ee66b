"""How a route ends, the same for the plain runner (plain.py) and the FastAGI server (server/app.py).

A hang-up is the caller's right, logged at info; an AGI exchange that cannot go on (timeout,
garbage, a refused command) is a warning; anything else is a bug, logged with its traceback.
None of them reaches Asterisk as anything but the end of the script: the dialplan goes on.
"""

from __future__ import annotations

from ..agi.protocol import AgiError, AgiHangup

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections costs a plain AGI process milliseconds it would spend on hints
    from collections.abc import Awaitable, Callable

COMPLETED, HANGUP, FAILED = "completed", "hangups", "failed"  # server/app.py counts them by these names


async def run_route(work: Awaitable, log: Callable[[], object]) -> str:
    """Await `work` (a route, or a whole plain AGI call); COMPLETED, HANGUP or FAILED.

    `log()` gives the logger to use at that moment (the plain runner binds the call's uniqueid
    once it has read the environment).
    """
    try:
        await work
        return COMPLETED
    except AgiHangup as exc:
        log().info("hangup", detail=str(exc))
        return HANGUP
    except AgiError as exc:
        log().warning("agi_failed", error=f"{type(exc).__name__}: {exc}")
        return FAILED
    except Exception as exc:
        log().error("route_crashed", error=repr(exc), exc_info=True)
        return FAILED
