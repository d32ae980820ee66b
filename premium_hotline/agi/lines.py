"""Line reading with a deadline, for the plain AGI script's stdin.

Asterisk waits for an AGI script without any limit, so a script blocked on a read holds the
caller in silence. Every read here has a deadline, a bounded line length, and decodes bytes that
are not UTF-8 (Asterisk can truncate a multi-byte name) instead of crashing on them.
"""

from __future__ import annotations

import os
import select
import time

from .protocol import MAX_LINE_BYTES, AgiHangup, AgiProtocolError, AgiTimeout, EnvParser


class FdLines:
    """Buffered, deadline-bound `readline()` over a file descriptor."""

    def __init__(self, fd: int, timeout_s: float) -> None:
        self.fd = fd
        self.timeout_s = timeout_s
        self._buffer = b""
        self._eof = False

    def readline(self) -> str:
        """One line ending in a newline, like a file's readline(); '' once the input has ended."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
                if len(line) > MAX_LINE_BYTES:
                    raise AgiProtocolError(f"AGI line of {len(line)} bytes is over {MAX_LINE_BYTES}")
                return line.decode("utf-8", "replace").rstrip("\r") + "\n"
            if len(self._buffer) > MAX_LINE_BYTES:
                raise AgiProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes")
            if self._eof:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace") if rest else ""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgiTimeout(f"no line from Asterisk within {self.timeout_s:.1f}s")
            try:
                ready, _, _ = select.select([self.fd], [], [], remaining)
            except InterruptedError:  # SIGHUP from Asterisk lands here; the caller checks it
                continue
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except InterruptedError:
                continue
            except OSError as exc:
                raise AgiHangup(f"AGI input failed: {exc}") from None
            if not chunk:
                self._eof = True
            self._buffer += chunk


def read_env(readline) -> dict[str, str]:
    """The `agi_*` environment block, read with `readline` and parsed by protocol.EnvParser."""
    parser = EnvParser()
    while (env := parser.feed(readline())) is None:
        pass
    return env
