"""A real Asterisk 22, in the Debian sid chroot built by ``sandbox/build.sh``, for tests and demos.

Standard library only and test-runner agnostic: a pytest fixture, a plain script or the demo
can all drive it.  Needs root (chroot).

Each :class:`AsteriskSandbox` is one *session*: its own Asterisk configuration, log, CDR,
queue_log, AstDB and control socket under ``/var/tmp/ph-sandbox/<session>`` inside the chroot
(Asterisk is started with ``-C`` pointing at that session's ``asterisk.conf``), so the package's
own ``/etc/asterisk`` is never edited and two sessions can run side by side.  Each session also
has its own AGI directory (``astagidir`` = ``<session>/agi-bin``: :meth:`install_agi_script`,
:meth:`install_plugin_agi`) and its own data directory (``astdatadir`` = ``<session>/data``, whose
entries link to the package's ``/usr/share/asterisk`` ones, with a ``sounds`` folder of its own
linking each language of the package's sounds, where :meth:`make_sound` writes): two test runs
on one machine never share a script or a sound.  Asterisk runs in a mount namespace of its own
where the chroot's ``/etc/resolv.conf`` is this session's ``<session>/resolv.conf`` (a copy of the
chroot's until :meth:`set_nameserver`): a test can point its Asterisk's DNS at a server of its own
(``hagi://`` SRV records) without changing what any other session resolves.  What is shared with
the rest of the chroot: the system Python with whatever wheels were installed by
``sandbox/install-package.sh``.

Example::

    from sandbox.asterisk import AsteriskSandbox

    with AsteriskSandbox() as pbx:                      # close() stops Asterisk, always
        pbx.configure(
            dialplan_includes=["dialplan/premium-hotline.conf"],    # host paths, copied in
            extensions="[hotline]\\nexten => 100,1,Answer()\\n same => n,Wait(1)\\n",
            queues="[support]\\nstrategy=ringall\\nmember => Local/agent1@agents/n\\n",
        )
        pbx.make_sound("ph/price-notice", seconds=10)        # Playback(ph/price-notice)
        pbx.install_agi_script("agi_scripts/decide_tariff.py")
        pbx.start()                                          # returns the boot time in s
        mark = pbx.mark()
        call = pbx.call("100", "hotline", caller_id="0612345678", hangup_after=5)
        pbx.wait_idle(timeout=30)
        assert pbx.problems_since(mark) == []
        print(pbx.cdr_rows())

Asterisk runs as root inside the chroot and must *not* be given ``-U``/``-G``: it would drop
its capabilities and then fail to read its own (asterisk-owned, mode 640) files.

Behaviour of Asterisk 22.10 seen through this class (sandbox/selfcheck.py checks each one):

* ``Answer()`` with no argument on a Local channel waits 500 ms for a first voice frame that
  never comes (the test caller sends no audio) before the next priority; ``Answer(0)`` does not.
* ``${STRFTIME(,,%s%3q)}`` is epoch milliseconds; ``${STRFTIME(,,%F %T.%3q)}`` a local time
  with ms.  ``${EPOCH}`` is whole seconds, so ``STRFTIME(${EPOCH},,...%3q)`` gives ``.000``.
* Queue's AGI argument runs on the caller's channel after the member answered and before the
  bridge; QUEUEWAIT_MS is empty there. MEMBERINTERFACE and MEMBERNAME are set there (and in
  the hang-up handler, and on the member's channel for the member gosub) only when the queue
  has ``setinterfacevar = yes``, which the selfcheck's queue has not; DIALEDPEERNUMBER is not.
* A hangup handler runs after the caller's CDR for the bridge (or the unanswered queue attempt)
  is closed: ``CDR(userfield)`` set there lands in a *separate trailing CDR* of the same
  uniqueid (lastapp Return, billsec 0), not in the bridged one.  Without any Dial/Queue the
  channel has a single CDR and the value lands there.
* An AGI in a hangup handler: GET/SET VARIABLE work; STREAM FILE and CHANNEL STATUS answer
  ``511 Command Not Permitted on a dead channel or intercept routine``; no SIGHUP arrives.
* AGI scripts inherit Asterisk's environment (see ``env=``) plus AST_CONFIG_DIR (this
  session's etc dir), AST_AGI_DIR and the like.
* AMI unique ids are checked by prefix: two ids where one is a prefix of the other fail with
  "Channel Unique ID ... already in use" (call() picks safe ones).
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
import wave
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

DEFAULT_ROOT = "/var/cache/premium-hotline/sandbox"
SESSIONS_DIR = "/var/tmp/ph-sandbox"  # inside the chroot
AGI_DIR = "/usr/share/asterisk/agi-bin"  # Debian's astagidir
DATA_DIR = "/usr/share/asterisk"  # astdatadir; sounds are under DATA_DIR/sounds
MOD_DIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"

#: Modules loaded with ``autoload=no``.  Everything else (Local channels, bridging core,
#: manager, CDR and CEL engines, pbx builtins such as Answer/Wait/Set/Goto) is in the core.
#: Checked to load with no WARNING or ERROR on Asterisk 22.10 (sandbox/selfcheck.py).
DEFAULT_MODULES: tuple[str, ...] = (
    # dialplan
    "pbx_config.so",  # extensions.conf
    # applications
    "app_queue.so",  # Queue, AddQueueMember, QUEUE_MEMBER(), QUEUE_WAITING_COUNT() ...
    "app_dial.so",  # Dial
    "app_playback.so",  # Playback
    "app_controlplayback.so",  # ControlPlayback (skip the price message with #)
    "app_read.so",  # Read
    "app_senddtmf.so",  # SendDTMF: a test caller presses keys
    "app_stack.so",  # Gosub, Return, LOCAL(); hangup handlers use it too
    "app_exec.so",  # Exec, TryExec, ExecIf
    "app_verbose.so",  # Verbose, Log
    "app_userevent.so",  # UserEvent
    "app_cdr.so",  # ResetCDR
    "app_dumpchan.so",  # DumpChan, handy when a test fails
    "app_system.so",  # System
    "app_softhangup.so",  # SoftHangup
    "app_if.so",  # If / ElseIf / Else / EndIf
    "app_while.so",  # While / EndWhile / ExitWhile / ContinueWhile
    # functions
    "func_strings.so",  # STRFTIME, CSV_QUOTE, FILTER, LEN, REGEX, STRPTIME ...
    "func_cut.so",  # CUT
    "func_logic.so",  # IF, ISNULL, EXISTS, SET
    "func_math.so",  # MATH, INC, DEC
    "func_cdr.so",  # CDR()
    "func_channel.so",  # CHANNEL(), including hangup_handler_push
    "func_callerid.so",  # CALLERID(), CONNECTEDLINE()
    "func_global.so",  # GLOBAL(), SHARED()
    "func_db.so",  # DB()
    "func_env.so",  # ENV(), STAT(), FILE()
    "func_hangupcause.so",  # HANGUPCAUSE()
    "func_timeout.so",  # TIMEOUT()
    "func_dialplan.so",  # DIALPLAN_EXISTS(), VALID_EXTEN()
    "func_sprintf.so",  # SPRINTF()
    "func_rand.so",  # RAND()
    # resources
    "res_agi.so",  # AGI(), agi:// FastAGI
    "res_speech.so",  # res_agi depends on it
    "res_musiconhold.so",  # music while waiting in the queue
    "res_timing_timerfd.so",  # paces file playback and music on hold
    "res_clioriginate.so",  # CLI "channel originate"
    # bridges: without bridge_simple, Queue/Dial cannot connect the parties ("Could not
    # create class basic.  No technology to support it."); builtin_features serves the
    # DTMF features of Queue/Dial options t, T, h, H, k, K.
    "bridge_simple.so",
    "bridge_builtin_features.so",
    # CDR backend: one CSV the tests read, see cdr_rows().  Since 22.x cdr_custom.so needs
    # res_cdrel_custom.so (without it: "undefined symbol: cdrel_logger").
    "res_cdrel_custom.so",
    "cdr_custom.so",
    # media: our generated .wav (8 kHz signed linear), Debian's .gsm prompts
    "format_wav.so",
    "format_sln.so",
    "format_pcm.so",
    "format_gsm.so",
    "codec_gsm.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_a_mu.so",
    "codec_resample.so",
)

#: Log lines that are WARNING/ERROR but say nothing about the code under test.  Matched with
#: re.search against the whole line.
HARMLESS_PATTERNS: tuple[str, ...] = ()

#: CDR columns written by cdr_custom (in this order) and returned by cdr_rows().
CDR_FIELDS: tuple[str, ...] = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start(%F %T.%3q)",
    "answer(%F %T.%3q)",
    "end(%F %T.%3q)",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "linkedid",
    "userfield",
    "sequence",
)

_LOG_LEVEL_RE = re.compile(r"\]\s+(WARNING|ERROR)\[")
_counter = itertools.count(1)
_live: weakref.WeakSet[AsteriskSandbox] = weakref.WeakSet()


class SandboxError(RuntimeError):
    """Anything that went wrong driving the sandbox Asterisk."""


@dataclasses.dataclass(frozen=True)
class Call:
    """A call placed by :meth:`AsteriskSandbox.call`.

    ``uniqueid`` is the channel that runs the dialplan under test (the ``;2`` half of the
    Local channel: to the dialplan it is the incoming call); ``caller_uniqueid`` is the
    ``;1`` half, which plays the caller's phone.
    """

    uniqueid: str
    caller_uniqueid: str
    exten: str
    context: str


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when its parent dies (Linux PR_SET_PDEATHSIG).

    The setting survives the exec of chroot and of asterisk (neither is set-uid)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _stop_all_at_exit() -> None:
    for sandbox in list(_live):
        try:
            sandbox.stop()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass


atexit.register(_stop_all_at_exit)


class AsteriskSandbox:
    """One Asterisk session in the cached chroot.  See the module docstring."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        session: str | None = None,
        modules: Sequence[str] = DEFAULT_MODULES,
        extra_modules: Sequence[str] = (),
        verbose: int = 5,
        harmless: Sequence[str] = (),
        keep_sessions: int = 5,
        env: Mapping[str, str] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        """``root``: the chroot (default ``$PH_SANDBOX_DIR`` or /var/cache/premium-hotline/sandbox).
        ``modules`` / ``extra_modules``: modules to load (autoload is off).
        ``verbose``: Asterisk verbosity (3 shows each dialplan step, 5 also AGI details).
        ``harmless``: extra regexes of WARNING/ERROR lines that problems_since() ignores.
        ``keep_sessions``: older session directories beyond this many are pruned at start.
        ``env``: environment variables for Asterisk, which passes them on to every AGI
            script it runs (adding its own AST_CONFIG_DIR, AST_AGI_DIR ...): e.g. the address
            of a test Redis.  Apart from these, Asterisk gets a clean environment.
        ``die_with_parent``: have the kernel kill Asterisk if the thread that started it
            dies (PR_SET_PDEATHSIG), so a test run killed with SIGKILL leaves no Asterisk
            behind.  Start it from the main thread, or pass False.
        """
        self.root = Path(root or os.environ.get("PH_SANDBOX_DIR") or DEFAULT_ROOT).resolve()
        if not (self.root / ".premium-hotline-sandbox").is_file():
            raise SandboxError(f"no complete sandbox chroot at {self.root}: run sandbox/build.sh first")
        if os.geteuid() != 0:
            raise SandboxError("AsteriskSandbox needs root (it runs chroot)")
        self.session = session or f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_counter)}"
        self.sdir = f"{SESSIONS_DIR}/{self.session}"  # chroot path of the session
        self.etc = f"{self.sdir}/etc"
        self.logdir = f"{self.sdir}/log"
        self.conf = f"{self.etc}/asterisk.conf"
        self.full_log = f"{self.logdir}/full"
        self.agi_dir = f"{self.sdir}/agi-bin"  # this session's astagidir
        self.data_dir = f"{self.sdir}/data"  # this session's astdatadir
        self.sounds_dir = f"{self.data_dir}/sounds"  # where this session's Playback looks
        self.resolv_conf = f"{self.sdir}/resolv.conf"  # this Asterisk's /etc/resolv.conf
        self.modules = list(modules) + [m for m in extra_modules if m not in modules]
        self.verbose = verbose
        self.harmless = tuple(HARMLESS_PATTERNS) + tuple(harmless)
        self.keep_sessions = keep_sessions
        self.env = dict(env or {})
        self.die_with_parent = die_with_parent
        self.ami_port = _free_tcp_port()
        self.ami_user, self.ami_secret = "sandbox", uuid.uuid4().hex
        self.boot_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pgid: int | None = None  # Asterisk's process group (its own session)
        self._console = None
        self._installed: list[str] = []  # chroot paths outside the session dir to remove
        self._configured = False
        _live.add(self)

    # ------------------------------------------------------------------ paths and files
    def host_path(self, chroot_path: str) -> Path:
        """Where a path inside the chroot lives on the host."""
        if not chroot_path.startswith("/"):
            raise ValueError(f"chroot paths must be absolute: {chroot_path!r}")
        return self.root / chroot_path.lstrip("/")

    def resolved_host_path(self, chroot_path: str) -> Path:
        """`host_path`, following symlinks as the chroot sees them: the session's sounds folder
        links to the package's with chroot-absolute targets, which the host would take for its own."""
        parts = [part for part in chroot_path.split("/") if part]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            here = self.root.joinpath(*done, part)
            if here.is_symlink() and hops < 40:
                hops += 1
                target = os.readlink(here)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            if part == "..":
                done = done[:-1]
            elif part != ".":
                done.append(part)
        return self.root.joinpath(*done)

    def put_file(
        self,
        chroot_path: str,
        content: str | bytes | None = None,
        *,
        src: str | os.PathLike[str] | None = None,
        mode: int = 0o644,
        remove_on_close: bool | None = None,
    ) -> str:
        """Write ``content`` (or copy host file ``src``) to ``chroot_path`` inside the chroot.

        Files outside this session's directory (e.g. /etc/asterisk/premium-hotline.conf) are
        removed again by close() unless ``remove_on_close=False``.  Returns ``chroot_path``.
        """
        if (content is None) == (src is None):
            raise ValueError("give exactly one of content or src")
        dest = self.host_path(chroot_path)
        self._own_folders(chroot_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink():
            dest.unlink()  # a link to the shared chroot's file: this session's own file replaces it
        if src is not None:
            shutil.copyfile(src, dest)
        elif isinstance(content, str):
            dest.write_text(content)
        else:
            dest.write_bytes(content)
        os.chmod(dest, mode)
        if remove_on_close is None:
            remove_on_close = not chroot_path.startswith(self.sdir + "/")
        if remove_on_close and chroot_path not in self._installed:
            self._installed.append(chroot_path)
        return chroot_path

    def read_file(self, chroot_path: str) -> str:
        return self.host_path(chroot_path).read_text(errors="replace")

    def install_agi_script(
        self,
        src: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        content: str | None = None,
    ) -> str:
        """Put an executable AGI script into the AGI dir; ``AGI(<name>)`` then runs it.

        Give a host file ``src`` (its base name is used unless ``name``) or ``content``.
        Scripts run with the chroot's own python3 (their ``#!`` line is used as is).
        """
        if name is None:
            if src is None:
                raise ValueError("name is required with content")
            name = Path(src).name
        return self.put_file(f"{self.agi_dir}/{name}", content, src=src, mode=0o755)

    def install_plugin_agi(self) -> list[str]:
        """The plugin's AGI scripts in this session's agi-bin, written by the chroot's own
        ``premium-hotline install-agi`` (so their ``#!`` is the chroot's interpreter)."""
        self.host_path(self.agi_dir).mkdir(parents=True, exist_ok=True)
        self.run("premium-hotline", "install-agi", "--dir", self.agi_dir)
        return sorted(p.name for p in self.host_path(self.agi_dir).iterdir())

    def make_sound(
        self,
        name: str,
        seconds: float,
        *,
        freq: float = 440.0,
        amplitude: float = 0.2,
        rate: int = 8000,
    ) -> str:
        """Write a WAV of exactly ``seconds`` (a sine tone, or silence with amplitude=0).

        The file is ``sounds/<name>.wav`` under the data dir, so ``Playback(<name>)`` plays it
        (Asterisk looks in sounds/<language>/ first, then sounds/).  8 kHz 16-bit mono is what
        format_wav reads without any transcoding.  Returns ``name``.
        """
        self._link_data_dir()
        chroot_path = f"{self.sounds_dir}/{name}.wav"
        dest = self.resolved_host_path(chroot_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._write_wav(dest, seconds, freq, amplitude, rate)
        return name

    def _own_folders(self, chroot_path: str) -> None:
        """Turn each link of this session's folder on the way to `chroot_path` into a folder of its
        own that links the target's entries: a file written there stays this session's, never lands
        in the chroot's shared folders (another run may have put a folder there, e.g. sounds/X, and
        a link to it is chroot-absolute, which the host cannot follow)."""
        if not chroot_path.startswith(self.sdir + "/"):
            return
        here = self.sdir
        for part in chroot_path[len(self.sdir) + 1 :].split("/")[:-1]:
            here = f"{here}/{part}"
            host = self.host_path(here)
            if not host.is_symlink():
                continue
            target = self.resolved_host_path(here)
            link_to = os.readlink(host)
            if not link_to.startswith("/"):
                link_to = f"../{link_to}"  # the entries sit one folder deeper than the link did
            host.unlink()
            host.mkdir()
            for entry in target.iterdir() if target.is_dir() else ():
                (host / entry.name).symlink_to(f"{link_to.rstrip('/')}/{entry.name}")

    def _link_data_dir(self) -> None:
        """This session's astdatadir: links to the package's entries, a sounds folder of its own."""
        data = self.host_path(self.data_dir)
        if (data / "sounds").is_dir():
            return
        (data / "sounds").mkdir(parents=True, exist_ok=True)
        package = self.host_path(DATA_DIR)
        for entry in package.iterdir():
            if entry.name != "sounds" and not os.path.lexists(data / entry.name):
                (data / entry.name).symlink_to(f"{DATA_DIR}/{entry.name}")  # chroot path
        sounds = package / "sounds"
        for entry in sounds.iterdir() if sounds.is_dir() else ():
            if not os.path.lexists(data / "sounds" / entry.name):
                (data / "sounds" / entry.name).symlink_to(f"{DATA_DIR}/sounds/{entry.name}")

    # ------------------------------------------------------------------ configuration
    def configure(
        self,
        *,
        dialplan_includes: Iterable[str | os.PathLike[str]] = (),
        extensions: str = "",
        queues: str = "",
        globals_: Mapping[str, str] | None = None,
        configs: Mapping[str, str] | None = None,
        cdr_extra_fields: Sequence[str] = (),
    ) -> None:
        """Write this session's Asterisk configuration (call before start()).

        ``dialplan_includes``: host files copied into the session's etc dir and ``#include``d
            from extensions.conf, in order (e.g. the project's dialplan/*.conf).
        ``extensions``: more dialplan text, appended after the includes (test contexts).
        ``queues``: the whole queues.conf body (a ``[general]`` section is added if missing).
        ``globals_``: variables for the ``[globals]`` section.
        ``configs``: any other file name -> text, written to the session's etc dir last (so
            it can also replace one of the files written here, e.g. ``musiconhold.conf``).
        ``cdr_extra_fields``: extra CDR variables (set with ``Set(CDR(name)=...)``) to add as
            columns in cdr_rows(), after CDR_FIELDS.
        """
        self._prune_old_sessions()
        for sub in ("etc", "log", "run", "spool", "db", "cache", "moh", "agi-bin"):
            self.host_path(f"{self.sdir}/{sub}").mkdir(parents=True, exist_ok=True)
        self._link_data_dir()
        self.set_nameserver(None)
        w = self._write_etc
        w("asterisk.conf", self._asterisk_conf())
        w("modules.conf", "[modules]\nautoload = no\n" + "".join(f"load = {m}\n" for m in self.modules))
        # dateformat with milliseconds: log lines can be lined up with AGI timestamps.
        w(
            "logger.conf",
            "[general]\ndateformat = %F %T.%3q\nqueue_log = yes\n"
            "[logfiles]\nfull => notice,warning,error,verbose,dtmf\n"
            "console => notice,warning,error,verbose\n",
        )
        w("manager.conf", self._manager_conf())
        includes = []
        for i, src in enumerate(dialplan_includes):
            name = f"include{i:02d}-{Path(src).name}"
            w(name, Path(src).read_text())
            includes.append(f'#include "{self.etc}/{name}"\n')
        gl = "".join(f"{k} = {v}\n" for k, v in (globals_ or {}).items())
        w(
            "extensions.conf",
            "; written by sandbox/asterisk.py\n"
            "[general]\nstatic = yes\nwriteprotect = yes\nclearglobalvars = yes\n\n"
            f"[globals]\n{gl}\n" + "".join(includes) + "\n" + extensions + "\n",
        )
        if not re.search(r"^\s*\[general\]", queues, re.M):
            queues = "[general]\npersistentmembers = no\n\n" + queues
        w("queues.conf", queues)
        # cdr_custom's "advanced" JSON mapping (22.x): one JSON object per CDR, no dialplan
        # function evaluation; CDR variables set with Set(CDR(x)=...) need "(uservar)".
        fields = [*CDR_FIELDS, *(f"{f}(uservar)" for f in cdr_extra_fields)]
        w(
            "cdr.conf",
            "[general]\nenable = yes\nunanswered = yes\ncongestion = yes\nbatch = no\nendbeforehexten = no\n",
        )
        w("cdr_custom.conf", f"[{self.sdir}/log/cdr.json]\nformat = json\nfields = {', '.join(fields)}\n")
        # Music on hold from a generated tone, so Queue's hold music needs no sound package.
        self._write_wav(self.host_path(f"{self.sdir}/moh/tone.wav"), 2.0, 330.0, 0.05)
        w("musiconhold.conf", f"[default]\nmode = files\ndirectory = {self.sdir}/moh\n")
        # Call-progress tones: without a default country Asterisk warns at every start.
        pkg = self.host_path("/etc/asterisk/indications.conf")
        w(
            "indications.conf",
            pkg.read_text()
            if pkg.exists()
            else "[general]\ncountry = fr\n"
            "[fr]\ndescription = France\nringcadence = 1500,3500\ndial = 440\n"
            "busy = 440/500,0/500\nring = 440/1500,0/3500\ncongestion = 440/250,0/250\n"
            "callwaiting = 440/300,0/10000\ninfo = !950/330,!1400/330,!1800/330\n",
        )
        # Files the core reads at start: without them it logs "Unable to load config file
        # 'cel.conf'" (ERROR; likewise features, acl, udptl), "Could not find valid ccss.conf
        # file" (WARNING), and app_queue a NOTICE for queuerules.conf.  Empty is enough.
        for name in ("ccss.conf", "cel.conf", "features.conf", "acl.conf", "udptl.conf", "queuerules.conf"):
            if not self.host_path(f"{self.etc}/{name}").exists():
                w(name, "")
        for name, text in (configs or {}).items():
            w(name, text)
        self._configured = True

    def set_nameserver(self, address: str | None) -> None:
        """Point this session's resolver at ``address`` (port 53: resolv.conf names no port), or
        back at the chroot's own servers with None.  Takes effect at once, Asterisk running or
        not: the file is rewritten in place (the bind mount holds its inode) and glibc re-reads
        a resolv.conf whose modification time changed.  One try of one second per query, so a
        dead DNS server costs a call a second, not the default 5 s times 2 tries."""
        path = self.host_path(self.resolv_conf)
        path.parent.mkdir(parents=True, exist_ok=True)
        if address is None:
            chroot = self.host_path("/etc/resolv.conf")
            text = chroot.read_text() if chroot.is_file() else ""
        else:
            text = f"nameserver {address}\noptions timeout:1 attempts:1\n"
        with open(path, "w") as f:  # truncates: same inode, seen through the bind mount
            f.write(text)

    def _namespace_cmd(self) -> list[str]:
        """The command prefix giving Asterisk its own mount namespace with the session's resolv.conf
        bound over the chroot's (empty when the chroot has no plain resolv.conf to bind over: a
        symlink could lead the bind outside the chroot)."""
        target = self.host_path("/etc/resolv.conf")
        if not target.is_file() or target.is_symlink():
            return []
        source = str(self.host_path(self.resolv_conf))
        bind = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", bind, "sh", source, str(target)]

    def _write_etc(self, name: str, text: str) -> None:
        path = self.host_path(f"{self.etc}/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    @staticmethod
    def _write_wav(path: Path, seconds: float, freq: float, amplitude: float, rate: int = 8000) -> None:
        frames = round(seconds * rate)
        step = 2 * math.pi * freq / rate
        data = struct.pack(
            f"<{frames}h", *(int(32767 * amplitude * math.sin(step * i)) for i in range(frames))
        )
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(data)

    def _asterisk_conf(self) -> str:
        s = self.sdir
        return (
            "[directories]\n"
            f"astetcdir => {self.etc}\n"
            f"astmoddir => {MOD_DIR}\n"
            "astvarlibdir => /var/lib/asterisk\n"
            f"astdbdir => {s}/db\n"
            "astkeydir => /var/lib/asterisk\n"
            f"astdatadir => {self.data_dir}\n"
            f"astagidir => {self.agi_dir}\n"
            f"astspooldir => {s}/spool\n"
            f"astrundir => {s}/run\n"
            f"astlogdir => {self.logdir}\n"
            "astsbindir => /usr/sbin\n"
            f"astcachedir => {s}/cache\n"
            "[options]\n"
            f"verbose = {self.verbose}\n"
            "hideconnect = yes\n"  # no "remote console connected" noise per CLI call
            "documentation_language = en_US\n"
        )

    def _manager_conf(self) -> str:
        return (
            "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
            f"port = {self.ami_port}\ndisplayconnects = no\n\n"
            f"[{self.ami_user}]\nsecret = {self.ami_secret}\n"
            "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
            "read = all\nwrite = all\n"
        )

    def _prune_old_sessions(self) -> None:
        base = self.host_path(SESSIONS_DIR)
        if not base.is_dir():
            return
        old = sorted(
            (p for p in base.iterdir() if p.is_dir() and p.name != self.session),
            key=lambda p: p.stat().st_mtime,
        )
        for p in old[: max(0, len(old) - self.keep_sessions)]:
            if not self._session_alive(p):  # never prune a session whose Asterisk still runs
                shutil.rmtree(p, ignore_errors=True)

    @staticmethod
    def _session_alive(session_dir: Path) -> bool:
        """Does an Asterisk answer on that session's control socket?"""
        ctl = session_dir / "run" / "asterisk.ctl"
        if not ctl.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            try:
                s.connect(str(ctl))
            except (ConnectionRefusedError, FileNotFoundError):
                return False  # a socket left by an Asterisk that was killed
            except OSError:
                return True  # e.g. path too long for AF_UNIX: do not risk it
        return True

    # ------------------------------------------------------------------ process control
    def _chroot_cmd(self, *args: str, env: Mapping[str, str] | None = None) -> list[str]:
        # A clean environment: the host's PIP_*, proxies etc. mean nothing inside.
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        base = ["env", "-i", path, "HOME=/root", "LANG=C.UTF-8"]
        return [*base, *extra, "chroot", str(self.root), *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 60.0, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the chroot (clean environment plus ``env``), capture its output.

        E.g. ``pbx.run("premium-hotline", "stats")`` or ``pbx.run("python3", "-c", "...")``.
        """
        r = subprocess.run(self._chroot_cmd(*args, env=env), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise SandboxError(f"{' '.join(args)!r} in the chroot failed (rc={r.returncode}): {r.stderr}")
        return r

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 30.0) -> float:
        """Start Asterisk and wait until it is fully booted.  Returns the boot time (s).

        Asterisk runs in the foreground (``-f``, no fork) in its own process group, so this
        object always knows its pid and stop() can clean up every process it left.  Its
        console output goes to ``<session>/log/console``; the full log to ``log/full``.
        """
        if self.running:
            raise SandboxError("already running")
        if not self._configured:
            self.configure()
        console = self.host_path(f"{self.logdir}/console")
        self._console = open(console, "ab")
        t0 = time.monotonic()
        asterisk = self._chroot_cmd(
            "asterisk", "-C", self.conf, "-f", "-n", "-" + "v" * self.verbose, env=self.env
        )
        self._proc = subprocess.Popen(
            [*self._namespace_cmd(), *asterisk],
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        self._pgid = self._proc.pid
        deadline = t0 + timeout
        last = ""
        while True:
            if self._proc.poll() is not None:
                tail = self.console_output()[-2000:]
                self._cleanup_process()
                raise SandboxError(f"Asterisk exited at start (rc={self._proc.returncode}):\n{tail}")
            r = subprocess.run(
                self._chroot_cmd("asterisk", "-C", self.conf, "-rx", "core waitfullybooted"),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            last = (r.stdout + r.stderr).strip()
            if r.returncode == 0 and "fully booted" in last.lower():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxError(f"Asterisk not fully booted after {timeout} s: {last}")
            time.sleep(0.05)
        self.boot_seconds = time.monotonic() - t0
        return self.boot_seconds

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Asterisk: ``core stop now``, then SIGTERM, then SIGKILL; reap AGI children."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                subprocess.run(
                    self._chroot_cmd("asterisk", "-C", self.conf, "-rx", "core stop now"),
                    capture_output=True,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                pass
            for sig, wait in ((None, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if sig is not None and self._proc.poll() is None:
                    self._signal_group(sig)
                try:
                    self._proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._cleanup_process()

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL Asterisk and its AGI children at once, as a crash would: no hang-up handler
        runs, no call is closed.  ``start()`` then boots the same session again."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._proc.wait(timeout)
        self._cleanup_process()

    def _signal_group(self, sig: int) -> None:
        if self._pgid is None:
            return
        try:
            os.killpg(self._pgid, sig)
        except ProcessLookupError:
            pass

    def _cleanup_process(self) -> None:
        # AGI scripts forked by Asterisk share its process group: kill any still running.
        # Only once: later, that number may belong to some other process group.
        self._signal_group(signal.SIGKILL)
        self._pgid = None
        if self._console is not None:
            self._console.close()
            self._console = None

    def close(self, *, keep_files: bool = False) -> None:
        """stop(), then remove the files this session put outside its own directory."""
        self.stop()
        if not keep_files:
            keep_dirs = {self.host_path(d) for d in (AGI_DIR, f"{DATA_DIR}/sounds", "/etc/asterisk")}
            for chroot_path in reversed(self._installed):
                path = self.host_path(chroot_path)
                path.unlink(missing_ok=True)
                # Also the directories make_sound()/put_file() created, once empty.
                parent = path.parent
                while parent not in keep_dirs and parent != self.root:
                    try:
                        parent.rmdir()
                    except OSError:
                        break
                    parent = parent.parent
            self._installed.clear()
        _live.discard(self)

    def __enter__(self) -> AsteriskSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ CLI and AMI
    def cli(self, command: str, *, timeout: float = 15.0, check: bool = True) -> str:
        """Run one CLI command (``asterisk -rx``) and return its output."""
        r = subprocess.run(
            self._chroot_cmd("asterisk", "-C", self.conf, "-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        out = r.stdout
        if check and (r.returncode != 0 or out.startswith("No such command")):
            raise SandboxError(f"CLI {command!r} failed (rc={r.returncode}): {out}{r.stderr}")
        return out

    def ami(
        self, action: str, fields: Sequence[tuple[str, str]] = (), *, timeout: float = 10.0
    ) -> dict[str, str]:
        """Send one AMI action (own connection, events off) and return the response fields.

        ``fields`` is a list of pairs because some keys repeat (``Variable``).
        """
        action_id = uuid.uuid4().hex
        with socket.create_connection(("127.0.0.1", self.ami_port), timeout=timeout) as s:
            f = s.makefile("rwb")
            f.readline()  # "Asterisk Call Manager/x.y"

            def send(pairs: Sequence[tuple[str, str]]) -> None:
                f.write(b"".join(f"{k}: {v}\r\n".encode() for k, v in pairs) + b"\r\n")
                f.flush()

            def response(want_id: str) -> dict[str, str]:
                while True:
                    block: dict[str, str] = {}
                    while True:
                        line = f.readline()
                        if not line:
                            raise SandboxError(f"AMI closed the connection during {action}")
                        line = line.decode(errors="replace").rstrip("\r\n")
                        if not line:
                            break
                        k, _, v = line.partition(":")
                        block[k.strip()] = v.strip()
                    if block.get("ActionID") == want_id and "Response" in block:
                        return block

            send(
                [
                    ("Action", "Login"),
                    ("Username", self.ami_user),
                    ("Secret", self.ami_secret),
                    ("Events", "off"),
                    ("ActionID", "login"),
                ]
            )
            login = response("login")
            if login.get("Response") != "Success":
                raise SandboxError(f"AMI login failed: {login}")
            send([("Action", action), ("ActionID", action_id), *fields])
            result = response(action_id)
            send([("Action", "Logoff"), ("ActionID", "logoff")])
            return result

    # ------------------------------------------------------------------ calls
    def originate(
        self,
        channel: str,
        *,
        exten: str | None = None,
        context: str | None = None,
        app: str | None = None,
        data: str = "",
    ) -> None:
        """``channel originate`` from the CLI, exactly as an admin would type it.

        ``originate("Local/100@hotline/n", app="Wait", data="20")`` or
        ``originate("Local/100@hotline/n", exten="s", context="caller")``.
        Returns at once (the call runs on); use channels() / wait_idle() to follow it.
        """
        if (app is None) == (exten is None):
            raise ValueError("give exactly one of app or exten")
        if app is not None:
            cmd = f"channel originate {channel} application {app} {data}".rstrip()
        else:
            cmd = f"channel originate {channel} extension {exten}" + (f"@{context}" if context else "")
        out = self.cli(cmd)
        if out.strip():
            raise SandboxError(f"{cmd!r}: {out.strip()}")

    def call(
        self,
        exten: str,
        context: str,
        *,
        caller_id: str | None = None,
        caller_name: str | None = None,
        variables: Mapping[str, str] | None = None,
        hangup_after: float | None = None,
        app: str | None = None,
        data: str = "",
    ) -> Call:
        """Place a test call into ``exten@context`` via AMI Originate (returns at once).

        A ``Local/<exten>@<context>/n`` channel is created; its ``;2`` half runs the dialplan
        under test with the given caller ID, and its ``;1`` half plays the caller's phone:
        by default it waits (``Wait``) and so hangs up ``hangup_after`` seconds after the
        dialplan answers (or stays on up to an hour).  Give ``app``/``data`` to make the
        caller's phone do something else once answered (e.g. ``app="SendDTMF", data="#"``).
        ``variables`` are set on the ``;1`` half; Local copies them to the ``;2`` half.
        The channels get known unique ids, returned in :class:`Call`.
        """
        if app is None:
            app, data = "Wait", str(hangup_after if hangup_after is not None else 3600)
        base = f"ph-{uuid.uuid4().hex[:12]}"
        fields: list[tuple[str, str]] = [
            ("Channel", f"Local/{exten}@{context}/n"),
            ("Application", app),
            ("Data", data),
            ("Async", "true"),
            ("Timeout", "60000"),
            # Asterisk matches unique ids by prefix when it checks they are free: neither
            # id may be a prefix of the other ("Channel Unique ID ... already in use").
            ("ChannelId", f"{base}-phone"),
            ("OtherChannelId", f"{base}-line"),
        ]
        if caller_id is not None or caller_name is not None:
            name = caller_name or ""
            fields.append(("CallerID", f'"{name}" <{caller_id or ""}>'))
        for k, v in (variables or {}).items():
            fields.append(("Variable", f"{k}={v}"))
        r = self.ami("Originate", fields)
        if r.get("Response") != "Success":
            raise SandboxError(f"AMI Originate failed: {r}")
        return Call(uniqueid=f"{base}-line", caller_uniqueid=f"{base}-phone", exten=exten, context=context)

    def dialplan_reload(self) -> None:
        """Re-read extensions.conf and its #includes (after changing them with put_file())."""
        self.cli("dialplan reload")

    def set_global(self, name: str, value: str) -> None:
        """Set a dialplan global variable while Asterisk runs (an empty value too).

        Through AMI Setvar: the CLI's `dialplan set global NAME` needs a non-empty value, so
        clearing a global there silently leaves the old value in place.
        """
        reply = self.ami("Setvar", [("Variable", name), ("Value", value)])
        if reply.get("Response") != "Success":
            raise SandboxError(f"AMI Setvar {name} failed: {reply}")

    def hangup(self, channel: str) -> None:
        """Hang up one channel by name (``channel request hangup``)."""
        self.cli(f"channel request hangup {channel}")

    def channels(self) -> list[dict[str, str]]:
        """Active channels, from ``core show channels concise``."""
        keys = (
            "channel",
            "context",
            "exten",
            "priority",
            "state",
            "application",
            "data",
            "callerid",
            "accountcode",
            "peeraccount",
            "amaflags",
            "duration",
            "bridgeid",
            "uniqueid",
        )
        rows = []
        for line in self.cli("core show channels concise").splitlines():
            if "!" in line:
                rows.append(dict(zip(keys, line.split("!"), strict=False)))
        return rows

    def wait_until(self, predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
        """Poll ``predicate()`` until it returns something truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SandboxError(f"{what} not met within {timeout} s")
            time.sleep(interval)

    def wait_idle(self, timeout: float = 30.0, interval: float = 0.2) -> None:
        """Wait until no channel is left (every call of the test has ended)."""
        deadline = time.monotonic() + timeout
        while self.channels():
            if time.monotonic() > deadline:
                raise SandboxError(f"channels still up after {timeout} s: {self.channels()}")
            time.sleep(interval)

    # ------------------------------------------------------------------ logs and records
    def mark(self) -> int:
        """A position in the full log; pass it to log_since() / problems_since()."""
        try:
            return self.host_path(self.full_log).stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int = 0) -> str:
        try:
            with open(self.host_path(self.full_log), "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 15.0) -> re.Match[str]:
        """Wait for a log line matching the regex ``pattern`` after ``since``; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_since(since).splitlines():
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() > deadline:
                raise SandboxError(f"no log line matching {pattern!r} within {timeout} s")
            time.sleep(0.1)

    def problems_since(self, mark: int = 0, *, ignore: Sequence[str] = ()) -> list[str]:
        """WARNING and ERROR lines logged since ``mark``, minus the known harmless ones."""
        skip = [re.compile(p) for p in (*self.harmless, *ignore)]
        return [
            line
            for line in self.log_since(mark).splitlines()
            if _LOG_LEVEL_RE.search(line) and not any(rx.search(line) for rx in skip)
        ]

    def console_output(self) -> str:
        """What Asterisk printed on its stdout/stderr (it runs with -f, no console)."""
        try:
            return self.host_path(f"{self.logdir}/console").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cdr_rows(self) -> list[dict[str, object]]:
        """CDR records written so far (oldest first), one dict per record.

        Keys are CDR_FIELDS plus ``cdr_extra_fields`` given to configure(); start, answer and
        end are local times with milliseconds ("2026-11-26 04:25:32.519", "" if never
        answered); duration and billsec are whole seconds (ints).  Asterisk writes a record
        when the channel's CDR is finalized, i.e. after its hangup handlers ran.
        """
        path = self.host_path(f"{self.logdir}/cdr.json")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def queue_log(self) -> list[list[str]]:
        """queue_log lines split on ``|``: time|callid|queue|agent|event|data1|..."""
        path = self.host_path(f"{self.logdir}/queue_log")
        if not path.exists():
            return []
        return [line.split("|") for line in path.read_text().splitlines() if line]

    def loaded_modules(self) -> list[str]:
        """Names of the loaded modules (``module show``)."""
        names = []
        for line in self.cli("module show").splitlines():
            m = re.match(r"^(\S+\.so)\s", line)
            if m:
                names.append(m.group(1))
        return sorted(names)
