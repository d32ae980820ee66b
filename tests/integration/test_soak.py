"""The bounded soak (bench/soak.py) as a CI test: 60 s by default, PH_SOAK_SECONDS for longer.

Steady FastAGI calls with stalled clients, Redis frozen then restarted: no AGI connection held
past the Redis deadline plus a margin, stalled clients cut at the AGI deadline, every call closed
in Redis once the server has replayed its spool, server RSS and descriptors flat, `ph:events`
held near its MAXLEN and every other key expiring. The figures are printed whatever the result.
"""

from __future__ import annotations

import os

from bench.soak import report, run_soak


def test_a_bounded_soak_through_the_fastagi_server(tmp_path, capsys):
    seconds = float(os.environ.get("PH_SOAK_SECONDS", "60"))
    result = run_soak(seconds=seconds, rate=25.0, stalled=4, workdir=str(tmp_path))
    with capsys.disabled():
        print("\n" + report(result))
    assert result["problems"] == []
