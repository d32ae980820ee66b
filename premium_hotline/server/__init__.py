"""The FastAGI server: `premium-hotline serve`, the same route handlers as the plain scripts.

- wire.py: pure parts (script path and query string, allow-list), unit-tested without sockets;
- session.py: AsyncSession, the AgiSession over an asyncio connection, with a read deadline;
- app.py: the listener, per-call tasks, signals (SIGTERM drains, SIGHUP reloads) and `main`.
"""
