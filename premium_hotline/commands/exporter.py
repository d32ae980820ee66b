"""`premium-hotline exporter`: serve the KPIs to Prometheus at /metrics, read from Redis per scrape.

Examples:
    premium-hotline exporter                           # http://127.0.0.1:9797/metrics
    premium-hotline exporter --listen 0.0.0.0:9797     # reachable from another host
    premium-hotline exporter --timeout 1               # give up on Redis after 1 s per scrape

Loopback by default: the figures are business data. A scrape whose Redis read fails answers at
once with `premium_hotline_up 0` and no KPI series, rather than hanging Prometheus. Needs the
`ops` extra (prometheus-client). Metrics: premium_hotline.ops.metrics; dashboard: dashboards/.
"""

from __future__ import annotations

import argparse

from .http import add_listen, prepare, serve
from .options import command_parser, missing_extra

DEFAULT_LISTEN = "127.0.0.1:9797"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("exporter", __doc__)
    add_listen(parser, DEFAULT_LISTEN, "Redis timeout per scrape (default 2)")
    parser.add_argument("-q", "--queue", action="append", help="only this queue (repeatable)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        return missing_extra("exporter", "prometheus-client")
    ready = prepare("exporter", args)
    if isinstance(ready, int):
        return ready
    host, port, config, client = ready
    general = config.general
    from ..ops.metrics import KpiCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(client, general, queues=args.queue))
    return serve(
        "exporter",
        host,
        port,
        lambda: start_http_server(port, addr=host, registry=registry),
        path="/metrics",
        detail=f"Redis {general.redis_url}, timeout {args.timeout:g}s",
    )
