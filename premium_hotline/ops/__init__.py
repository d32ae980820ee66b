"""The operations view: read-only readers of what the plugin wrote to Redis.

`client` connects with redis-py (plain, TLS, unix socket, Cluster, Sentinel); `reader` fetches a
window of KPI minutes per queue and the calls waiting now; `window` turns `--last 15m` or
`--since 08:00` into arrival minutes; `events` formats the event stream; `metrics` is the
Prometheus collector; `charts` draws the report PNG. Nothing here writes to Redis.
"""
