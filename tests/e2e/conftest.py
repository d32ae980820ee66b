"""A real Asterisk 22 (the sandbox chroot) running the shipped dialplan, for end-to-end tests.

The plugin is installed in the chroot as an administrator would install it on a PBX (wheels,
`pip install --no-index`, `premium-hotline install-agi`), Asterisk loads dialplan/premium-hotline.conf
as is, and its AGI scripts reach the tests' own redis-server on the host over loopback.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from sandbox import sip
from sandbox.asterisk import AsteriskSandbox
from tests.support import sip_numbers

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = "/etc/asterisk/premium-hotline.conf"
# Each sandbox session has its own sounds folder (astdatadir); the name is the config's.
PRICE_SOUND = "premium-hotline/price-e2e"
PRICE_SECONDS = 2.0

# Agents are Local channels answering after a delay the test chooses (a global per agent).
# Named extensions, not a pattern: in `_agent.` the n would mean a digit 2-9, the extension
# would not exist for the Local channel's device state, and the member would show as Invalid.
AGENTS = "[agents]\n" + "".join(
    f"exten => {agent},1,NoOp(agent {agent} rings)\n"
    f" same => n,Wait(${{GLOBAL(DELAY_{agent})}})\n"
    " same => n,Answer()\n"
    " same => n,Wait(600)\n"
    for agent in ("agent1", "agent2")
)

QUEUES = (
    textwrap.dedent("""\
    [support]
    strategy = ringall
    timeout = 120
    retry = 1
    setinterfacevar = yes
    joinempty = yes
    leavewhenempty = no
    member => Local/agent1@agents/n

    [slow]
    strategy = ringall
    timeout = 120
    setinterfacevar = yes
    joinempty = yes
    member => Local/agent2@agents/n

    [nobody]
    strategy = ringall
    joinempty = yes
    leavewhenempty = no
    """)
    + sip_numbers.QUEUES
)

NUMBERS = textwrap.dedent(f"""\
    [0899123456]
    queue = support
    rate = 0.80/min
    announce = {PRICE_SOUND}

    [0899200000]
    queue = slow
    rate = 0.80/min
    commitment_s = 4
    announce = {PRICE_SOUND}

    [0899300000]
    queue = nobody
    rate = 0.80/min

    [0826100200]
    queue = support
    rate = 0.15/min
    ivr = yes

    [0805123456]
    queue = support
    """) + sip_numbers.NUMBERS.format(price=PRICE_SOUND)


def plugin_config(**general: str) -> str:
    """The plugin's config. The Local-channel scenarios run `answer = immediate`: a Local caller's
    phone half only starts its timer once answered, so it cannot leave an unanswered call; the
    SIP scenarios (tests/e2e/test_sip_*.py) run the default, early."""
    values = {
        "answer": "immediate",
        "redis_timeout_ms": "300",
        "commitment_s": "60",
        "short_abandon_s": "3",
        "default_queue": "support",
        "caller_hash_key": "e2e-secret-0123456789",
        "spool_dir": "/var/spool/asterisk/premium-hotline",
        "holidays": "none",
        "log_level": "warning",
        **general,
    }
    return "[general]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n" + NUMBERS


def _require_sandbox() -> None:
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root (chroot): run scripts/test e2e as root")
    build = subprocess.run([str(ROOT / "sandbox" / "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"sandbox/build.sh failed: {build.stderr.strip().splitlines()[-1:]}")
    install = subprocess.run(
        [str(ROOT / "sandbox" / "install-plugin.sh")], capture_output=True, text=True, cwd=ROOT
    )
    if install.returncode != 0:
        pytest.fail(f"sandbox/install-plugin.sh failed: {install.stderr.strip()}")


@pytest.fixture(scope="session")
def sip_network():
    """The carrier's trunk and the SIP agents' phones (sipp), around the session's Asterisk."""
    workdir = tempfile.mkdtemp(prefix="ph-sip-")
    network = sip.SipNetwork(workdir)
    sip_numbers.add_agents(network)
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="session")
def pbx(redis_server, sip_network):
    _require_sandbox()
    sandbox = AsteriskSandbox(extra_modules=sip.PJSIP_MODULES)
    try:
        sandbox.configure(
            dialplan_includes=[ROOT / "dialplan" / "premium-hotline.conf"],
            extensions=AGENTS,
            queues=QUEUES,
            globals_={"DELAY_agent1": "2", "DELAY_agent2": "2"},
            configs={"pjsip.conf": sip_network.pjsip_conf(), "rtp.conf": sip.RTP_CONF},
        )
        sandbox.install_plugin_agi()
        sandbox.make_sound(PRICE_SOUND, seconds=PRICE_SECONDS)
        sandbox.put_file(CONFIG_PATH, plugin_config(redis_url=redis_server.url))
        sandbox.start()
        sip_network.start_agents()
        yield sandbox
    finally:
        sandbox.close()


class Hotline:
    """One test's view: set agent delays and config, place calls, read what Redis recorded."""

    def __init__(self, pbx: AsteriskSandbox, redis_server) -> None:
        self.pbx = pbx
        self.redis_server = redis_server
        self.redis = redis_server.client()
        self.mark = pbx.mark()

    def configure(self, **general: str) -> None:
        general.setdefault("redis_url", self.redis_server.url)
        self.pbx.put_file(CONFIG_PATH, plugin_config(**general))

    def agent_delay(self, agent: str, seconds: float) -> None:
        self.pbx.set_global(f"DELAY_{agent}", str(seconds))

    def call(self, number: str, *, hangup_after: float, caller: str = "0612345678"):
        return self.pbx.call(
            number, "premium-hotline", caller_id=caller, caller_name="E2E Caller", hangup_after=hangup_after
        )

    def record(self, call, *, timeout: float = 20) -> dict:
        """The call's hash once the hang-up handler has closed it."""
        key = f"ph:call:{{{call.uniqueid}}}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.redis.hgetall(key)
            if record.get("outcome"):
                return record
            time.sleep(0.1)
        raise AssertionError(f"no closed record for {call.uniqueid}: {self.redis.hgetall(key)}")

    def decision_line(self, number: str) -> str:
        match = self.pbx.wait_for_log(rf"premium-hotline: {number} tariff=\S+ reason=\S+", since=self.mark)
        return match.group(0)

    def assert_clean(self) -> None:
        """No warning or error from Asterisk, no Python traceback on its console."""
        assert self.pbx.problems_since(self.mark) == []
        assert "Traceback" not in self.pbx.console_output()


@pytest.fixture
def hotline(pbx, redis_server):
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    line = Hotline(pbx, redis_server)
    line.configure()
    line.agent_delay("agent1", 2)
    line.agent_delay("agent2", 2)
    pbx.wait_idle(timeout=30)
    yield line
    pbx.wait_idle(timeout=60)
