"""How the plugin talks to Redis, for every topology: errors, URLs, and the clients built from them.

`url` parses every `redis_url` form; `connect` turns one into a client (the plain script's own
small client in `sync`, redis-py's asyncio client in `aio` for the server and the replay,
redis-py for the ops commands); `slots` is the plain client's Cluster routing, without I/O.
"""
