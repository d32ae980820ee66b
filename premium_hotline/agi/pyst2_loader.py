"""pyst2's `asterisk.agi`, imported without the modules it only needs for what we replace.

A plain AGI script pays every import on every call, before the caller hears anything.
"""

from __future__ import annotations

import sys

_Module = type(sys)


class _LazyModule(_Module):
    """Stands in for a module while pyst2 is imported; the real one loads on first attribute use.

    pyst2's agi.py imports pprint (whose import pulls dataclasses, inspect, ast, dis: ~30 ms
    here) for its stderr debug echo, re for the reply parser, signal for its SIGHUP handler and
    six for one flag. The subclass below replaces every one of those code paths, so in a plain
    AGI process they would be paid on every call for nothing. The stand-ins are in sys.modules
    only for the duration of `import asterisk.agi` (see _import_pyst2); pyst2's module keeps
    them, and any use of theirs imports the real module then. Behaviour is unchanged.
    """

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # the import system probing (`__path__` for `from x import y`)
            raise AttributeError(attr)
        return getattr(_real_module(self.__name__, self), attr)


class _LazyPattern:
    """`re.compile(...)` at pyst2's import time, compiled when first used (never, here)."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled = None

    def __getattr__(self, attr: str):
        if self._compiled is None:
            import re

            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, attr)


def _real_module(name: str, shim: object):
    if sys.modules.get(name) is shim:
        del sys.modules[name]
    return __import__(name)


def _import_pyst2():
    """`import asterisk.agi` with the stand-ins above for modules not imported yet."""
    loaded = sys.modules.get("asterisk.agi")
    if loaded is not None:
        return loaded
    shims: dict[str, _Module] = {}
    for name in ("pprint", "re", "signal", "six"):
        if name not in sys.modules:
            shims[name] = _LazyModule(name)
    if "re" in shims:
        shims["re"].compile = _LazyPattern
    if "six" in shims:
        shims["six"].PY3 = True  # all pyst2 takes from six
    sys.modules.update(shims)
    try:
        import asterisk.agi as pyst2
    finally:
        for name, shim in shims.items():
            if sys.modules.get(name) is shim:
                del sys.modules[name]
    return pyst2


pyst2 = _import_pyst2()  # the asterisk.agi module; import pyst2 names from agi.protocol, not from it
