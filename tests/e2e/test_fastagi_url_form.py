"""The end-to-end scenarios again, with the dialplan in its URL form: `PH_AGI_BASE` set to
`agi://127.0.0.1:PORT/`, so every AGI() of the shipped dialplan reaches `premium-hotline serve`.

The server runs inside the sandbox chroot, installed from the wheel like the scripts, with the
same /etc/asterisk/premium-hotline.conf; when a scenario rewrites that file the server is sent
SIGHUP, as an operator would (`systemctl reload`). At the end it must stop on SIGTERM with exit 0.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from sandbox.fastagi import wait_port
from sandbox.redis_server import free_port
from tests.e2e import test_calls_through_real_asterisk as scenarios

SCENARIOS = [
    scenarios.test_premium_call_answered_after_two_seconds,
    scenarios.test_an_agent_slower_than_the_commitment_downgrades_the_call,
    scenarios.test_no_member_ready_is_free,
    scenarios.test_ivr_path_and_free_range_are_free_with_their_reasons,
    scenarios.test_caller_hanging_up_while_waiting_is_abandoned_or_short_abandon,
    scenarios.test_hanging_up_during_the_price_message_closes_the_record_without_traceback,
    scenarios.test_hanging_up_during_the_decision_closes_the_record_without_traceback,
    scenarios.test_redis_stopped_calls_still_reach_the_agent_as_free_within_the_timeout,
]


@pytest.fixture(scope="module")
def fastagi(pbx):
    port = free_port()
    # As inside the chroot's own shell: a clean environment, the PBX's PATH.
    command = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]
    command += ["LANG=C.UTF-8", "chroot", str(pbx.root), "premium-hotline", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, process=process)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert process.returncode == 0, err.decode("utf-8", "replace")[-2000:]


@pytest.fixture
def url_hotline(hotline, fastagi):
    process, port = fastagi
    configure = hotline.configure

    def configure_and_reload(**general: str) -> None:
        configure(**general)
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)

    configure_and_reload()  # the hotline fixture wrote the config: make sure the server has it
    hotline.configure = configure_and_reload
    hotline.pbx.set_global("PH_AGI_BASE", f"agi://127.0.0.1:{port}/")
    try:
        yield hotline
    finally:
        hotline.pbx.set_global("PH_AGI_BASE", "")
        hotline.configure = configure


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_scenario_through_the_fastagi_server(scenario, url_hotline):
    scenario(url_hotline)
