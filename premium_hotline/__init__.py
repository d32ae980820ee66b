"""premium-hotline: premium or free tariff per hotline call, decided inside the Asterisk dialplan.

Modules on the per-call path import only what they need: a plain AGI script pays every import on
every call, before the caller hears anything (see bench/README.md).
"""

__version__ = "0.1.0"
