"""`premium-hotline wallboard`: today's figures per queue on a web page for a wall screen.

Examples:
    premium-hotline wallboard                          # http://127.0.0.1:9798/
    premium-hotline wallboard --listen 0.0.0.0:9798    # reachable from the room's screen
    premium-hotline wallboard --lang en                # English (default: the config's language)

Per queue: calls waiting now and the longest wait, today's offered / answered / abandoned, ASA,
service level, time to a human p90, premium share, broken commitments, refunds due, lost
calls, and per agent calls answered, talk time, time to answer once rung and premium calls
kept; each figure past its `alert_<figure>` threshold in colour. The page redraws itself every
`wallboard_refresh_s` seconds (`/data.json`); `?lang=en` or `?lang=fr` picks the language per
screen. Read-only; one Redis read per refresh interval whatever the number of viewers.
Loopback by default: the figures are business data.
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .http import add_listen, prepare, serve
from .options import command_parser

DEFAULT_LISTEN = "127.0.0.1:9798"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("wallboard", __doc__)
    add_listen(parser, DEFAULT_LISTEN, "Redis timeout per read (default 2)")
    parser.add_argument("--lang", choices=("fr", "en"), help="language of the page (default: the config's)")
    parser.add_argument(
        "--refresh", type=float, metavar="SECONDS", help="seconds between updates (default: the config's)"
    )
    return parser


def make_handler(cache, *, lang: str, refresh_s: float):
    """The request handler class: `/` the page, `/data.json` the shared snapshot, nothing else."""
    from ..ops import i18n, wallboard

    class Handler(BaseHTTPRequestHandler):
        server_version = "premium-hotline-wallboard"
        sys_version = ""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                chosen = i18n.language(parse_qs(url.query).get("lang", [""])[0], lang)
                nonce = secrets.token_urlsafe(16)
                body = wallboard.page(chosen, refresh_s, nonce).encode()
                self._send(200, "text/html; charset=utf-8", body, nonce)
            elif url.path == "/data.json":
                _, body = cache.get()
                self._send(200, "application/json; charset=utf-8", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        do_HEAD = do_GET

        def _send(self, status: int, kind: str, body: bytes, nonce: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            # Nothing from anywhere else: no font, no script, no picture, no frame.
            policy = "default-src 'none'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
            if nonce:
                policy += f"; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'"
            self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass  # a wall screen polls every few seconds: no access log on stderr

    return Handler


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    ready = prepare("wallboard", args)
    if isinstance(ready, int):
        return ready
    host, port, config, client = ready
    general = config.general
    from ..ops import wallboard

    refresh_s = args.refresh or general.wallboard_refresh_s
    cache = wallboard.SnapshotCache(
        lambda: wallboard.snapshot(client, general, now_ms=int(time.time() * 1000)), refresh_s
    )
    lang = args.lang or general.language

    def start():
        server = ThreadingHTTPServer((host, port), make_handler(cache, lang=lang, refresh_s=refresh_s))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="wallboard", daemon=True)
        thread.start()
        return server, thread

    detail = f"Redis {general.redis_url}, language {lang}, refresh {refresh_s:g}s"
    return serve("wallboard", host, port, start, path="/", detail=detail)
