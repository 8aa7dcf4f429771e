"""power-dev engine mode: MLCommons' own ``server.py`` and ``client.py``, run unmodified from a
checkout the user names (never copied into this project), measure; their source checksums are
power-dev's, so MLCommons' checker passes them. The director does everything around them:

- before: the checkout's sources against its own ``compliance/sources_checksums.json``, the
  server.conf (the user's, unchanged, or one written from ``[analyzer]``'s managed PTDaemon),
  the PTDaemon launch rules and ports;
- during: power-dev's output and PTDaemon's sample log followed live (progress, range
  advice), every line journalled to ``power-dev-engine/journal.jsonl`` as it comes;
- after: the client's session directory becomes a director session (``session.json``,
  ``report.json``, ``report.html``) with power-dev's files untouched, for ``report``,
  ``audit`` and ``submission``.

Sources: mlcommons/power-dev ``ptd_client_server/lib/client.py`` and ``server.py`` at
c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2 (their command lines and output layout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from analyzer_drivers.formats.errors import ConfigError
from analyzer_drivers.formats.session_layout import REPORT_JSON, SESSION_META
from power_director.config.loader import Config
from power_director.config.meters.ptd import PtdConfig
from power_director.config.power_dev import PowerDevConf, read_power_dev_conf
from power_director.session.power_dev_watch import EngineWatch
from power_director.session.ranging import SessionError
from reports.build.mlperf_import import import_run
from reports.mlperf.layout import source_checksums
from reports.model.report import SessionReport
from reports.render.html import write_html_report
from reports.version import tool_version

SERVER_PY = Path("ptd_client_server", "server.py")
CLIENT_PY = Path("ptd_client_server", "client.py")
ENGINE_DIR = "power-dev-engine"
SERVER_START_TIMEOUT_S = 90.0  # its NTP check, then PTDaemon's start (power-dev waits 30 s)
SERVER_STOP_TIMEOUT_S = 30.0
INTERRUPT_GRACE_S = 15.0  # power-dev's Ptd.terminate waits 10 s for PTDaemon
WATCH_PERIOD_S = 1.0
CLIENT_NEWS = ("Running workload in", "Session id is", "ERROR", "CRITICAL", "FATAL", "Successful")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    power_dev: Path  # the checkout's root (with ptd_client_server/ and compliance/)
    conf_path: Path | None = None  # the user's server.conf, used unchanged
    ntp: str = ""  # the NTP server client.py checks against; "" → server.conf's ntpServer
    loadgen_logs: Path | None = None  # where the workload writes LoadGen's logs


def check_checkout(power_dev: Path) -> str | None:
    """ConfigError when the checkout lacks power-dev's programs; a warning when its sources
    are not ones its own checker accepts (the result would fail "sources checksum")."""
    missing = [str(p) for p in (SERVER_PY, CLIENT_PY) if not (power_dev / p).is_file()]
    if missing:
        raise ConfigError(f"--power-dev {power_dev} is not a mlcommons/power-dev checkout: "
                          f"no {', '.join(missing)}")
    accepted_path = power_dev / "compliance" / "sources_checksums.json"
    try:
        accepted = json.loads(accepted_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return f"cannot read {accepted_path} ({exc}): the sources cannot be checked before the run"
    if source_checksums(power_dev / "ptd_client_server") not in accepted:
        return (f"the sources under {power_dev / 'ptd_client_server'} are not in its "
                "compliance/sources_checksums.json: MLCommons' checker will fail the result")
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_conf(config: Config, ntp: str, target: Path, listen: tuple[str, int] | None = None) -> Path:
    """A power-dev server.conf for ``[analyzer]``'s managed PTDaemon (and extra ones), its
    server listening on ``listen`` (default: a free loopback port)."""
    meters = [config.analyzer, *(extra.meter for extra in config.extra_analyzers)]
    launches = [m.managed_launch() if isinstance(m, PtdConfig) else None for m in meters]
    if any(launch is None for launch in launches):
        raise ConfigError("power-dev engine mode has power-dev's server start PTDaemon: give "
                          "--power-dev-conf server.conf, or [analyzer] ptd_path/ptd_command for every meter")
    if not ntp:
        raise ConfigError("power-dev engine mode needs an NTP server (--ntp ADDRESS): "
                          "power-dev checks the clock against it")
    host, port = listen or ("127.0.0.1", free_port())
    lines = ["[server]", f"ntpServer: {ntp}", f"listen: {host} {port}", "[ptd]",
             f"ptd: {launches[0][0].ptd if launches[0] else ''}", f"analyzerCount: {len(launches)}"]
    for index, managed in enumerate(launches, start=1):
        assert managed is not None
        launch = managed[0]
        lines += [f"[analyzer{index}]", f"deviceType: {launch.device_type}",
                  f"interfaceFlag: {launch.interface_flag}", f"devicePort: {launch.device_port}",
                  f"networkPort: {launch.network_port}"]
        lines += [f"channel: {','.join(map(str, launch.channel))}"] if launch.channel else []
        lines += [f"gpibBoard: {launch.gpib_board}"] if launch.gpib_board is not None else []
        lines += [f"dcFlag: {launch.dc_flag}"] if launch.dc_flag else []
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


class Journal:
    """Every line power-dev's programs print, stamped, appended and flushed as it comes."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def record(self, source: str, line: str) -> None:
        self._file.write(json.dumps({"t_ns": time.time_ns(), "source": source, "line": line}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _env(loadgen_logs: Path) -> dict[str, str]:
    # -B and this: never write bytecode into the user's checkout.
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "POWER_DIRECTOR_LOG_DIR": str(loadgen_logs)}


async def _pump(stream: asyncio.StreamReader | None, source: str, journal: Journal,
                on_line: Callable[[str], None]) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        journal.record(source, text)
        on_line(text)


async def _wait_for_listen(server: asyncio.subprocess.Process, host: str, port: int, last: list[str]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if server.returncode is not None:
            raise SessionError(f"power-dev's server.py exited with status {server.returncode} on start: "
                               f"{last[-1] if last else 'no output'}")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (OSError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise SessionError(f"power-dev's server.py did not listen on {host}:{port} within "
                                   f"{SERVER_START_TIMEOUT_S:g} s") from None
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return


@dataclass
class EngineRun:
    """One session: power-dev's server and client under the director's watch."""

    options: EngineOptions
    conf: PowerDevConf
    conf_path: Path
    staging: Path
    say: Callable[[str], None]

    def _watch(self) -> EngineWatch:
        launch = self.conf.launches[0]
        channels = launch.channel[1] if launch.channel and len(launch.channel) == 2 else 1
        return EngineWatch(self.say, launch.device_type, channels)

    async def _start_server(
        self, journal: Journal, watch: EngineWatch, loadgen: Path
    ) -> tuple[asyncio.subprocess.Process, asyncio.Future[None]]:
        """power-dev's server.py, listening; its output pumped into the journal and the watch."""
        server = await self._start(SERVER_PY, ["-c", str(self.conf_path)], loadgen, self.staging)
        pump = asyncio.ensure_future(_pump(server.stdout, "server", journal, watch.on_server_line))
        try:
            host, port = self.conf.listen
            host = "127.0.0.1" if host == "0.0.0.0" else host
            await _wait_for_listen(server, host, port, watch.server_lines)
        except BaseException:
            await _stop(server, 0)
            await asyncio.gather(pump, return_exceptions=True)
            raise
        return server, pump

    async def measure(self, workload: list[str], label: str) -> Path:
        """Run both programs; the client's session directory (under ``staging``)."""
        loadgen = self.options.loadgen_logs or self.staging / "loadgen"
        loadgen.mkdir(parents=True, exist_ok=True)
        journal = Journal(self.staging / ENGINE_DIR / "journal.jsonl")
        watch = self._watch()
        try:
            server, pump = await self._start_server(journal, watch, loadgen)
            pumps, client = [pump], server  # no client yet
            try:
                # the client runs the workload: from the user's directory, as the command was given there
                client = await self._start(CLIENT_PY, self._client_args(workload, label, loadgen), loadgen,
                                           Path.cwd())
                pumps.append(asyncio.ensure_future(_pump(client.stdout, "client", journal, self._say_client)))
                status = await self._follow(client, watch)
                if status != 0:
                    raise SessionError(f"power-dev's client.py failed (status {status}); its output is in "
                                       f"{self.staging / ENGINE_DIR / 'journal.jsonl'}")
                await _stop(server, SERVER_STOP_TIMEOUT_S)
            finally:
                for process in (client, server):
                    await _stop(process, 0)
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            journal.close()
        sessions = [d for d in (self.staging / "client-out").iterdir() if d.is_dir()]
        if len(sessions) != 1:
            raise SessionError(f"power-dev's client.py left {len(sessions)} session directories in "
                               f"{self.staging / 'client-out'}")
        return sessions[0]

    async def serve(self) -> int:
        """power-dev's server for remote power-dev clients, followed until it exits or we are
        stopped (then it is stopped); its exit status."""
        journal = Journal(self.staging / ENGINE_DIR / "journal.jsonl")
        watch = self._watch()
        try:
            server, pump = await self._start_server(journal, watch, self.staging)
            host, port = self.conf.listen
            self.say(f"power-dev's server.py listening on {host}:{port} for power-dev clients; "
                     f"its output goes to {self.staging / ENGINE_DIR / 'journal.jsonl'}")
            try:
                return await self._follow(server, watch)
            finally:
                await _stop(server, 0)
                await asyncio.gather(pump, return_exceptions=True)
        finally:
            journal.close()

    async def _start(
        self, program: Path, args: list[str], loadgen: Path, cwd: Path
    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-B", str(self.options.power_dev / program), *args, cwd=cwd,
            env=_env(loadgen), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)

    def _client_args(self, workload: list[str], label: str, loadgen: Path) -> list[str]:
        host, port = self.conf.listen
        return ["-a", "127.0.0.1" if host == "0.0.0.0" else host, "-p", str(port),
                "-n", self.options.ntp or self.conf.ntp_server, "-w", shlex.join(workload),
                "-L", str(loadgen), "-o", str(self.staging / "client-out"), "-l", label, "-S"]

    def _say_client(self, line: str) -> None:
        # client.py logs "<date> <time> [LEVEL] message"-style lines; its phases are what matter
        if any(key in line for key in CLIENT_NEWS):
            self.say(f"  power-dev: {line.split(' ', 2)[-1] if line[:1].isdigit() else line}")

    async def _follow(self, process: asyncio.subprocess.Process, watch: EngineWatch) -> int:
        while True:
            try:
                return await asyncio.wait_for(process.wait(), WATCH_PERIOD_S)
            except asyncio.TimeoutError:
                watch.tick()


async def _stop(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """Wait ``grace_s`` for it to end; then SIGINT, power-dev's graceful shutdown (its
    SignalHandler in lib/common.py; the server's atexit stops PTDaemon); then SIGKILL to its
    process group: PTDaemon, the workload, whatever it started."""
    if process.returncode is not None:
        return
    if grace_s > 0:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
            return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), INTERRUPT_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group (start_new_session)
    await process.wait()


def _check_layout(conf: PowerDevConf, power_dev: Path) -> None:
    """power-dev's server since late 2024 reads each analyzer from [analyzerN] and exits on a
    conf that keeps them in [ptd], as its own server.template.conf still does."""
    reads_sections = "analyzerCount" in (power_dev / "ptd_client_server" / "lib" / "server.py").read_text(
        encoding="utf-8", errors="replace")
    if conf.in_ptd_section and reads_sections:
        raise ConfigError(f"{conf.path}: this power-dev's server.py reads the analyzer from [analyzer1] "
                          "(deviceType, interfaceFlag, devicePort, networkPort, channel); move them out of "
                          "[ptd], or run without --power-dev (the director reads both)")


def _check_ports(conf: PowerDevConf) -> None:
    """What power-dev's server would exit on, said before anything starts."""
    for launch in conf.launches:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", launch.network_port)) == 0:
                raise ConfigError(f"{conf.path}: the PTDaemon port {launch.network_port} is already occupied")


def finish_session(session_dir: Path, label: str, workload: list[str], power_dev: Path) -> SessionReport:
    """``session.json``, ``report.json`` and ``report.html`` beside power-dev's untouched files."""
    report, run = import_run(session_dir)
    meta = run.meta().updated(
        label=label, status="completed", workload=shlex.join(workload), tool_version=tool_version(),
        command=f"power-dev engine: {power_dev / SERVER_PY} and {power_dev / CLIENT_PY}, unmodified")
    (session_dir / SESSION_META).write_text(json.dumps(meta.to_json(), indent=2) + "\n", encoding="utf-8")
    (session_dir / REPORT_JSON).write_text(report.dumps(), encoding="utf-8")
    write_html_report(session_dir, report, run.phases)
    return report


async def run_engine(
    config: Config, options: EngineOptions, workload: list[str], *, out_root: Path, label: str,
    say: Callable[[str], None],
) -> tuple[Path, SessionReport]:
    """One session measured by power-dev's own programs; its directory and report."""
    staging = out_root / f".power-dev-engine-{uuid.uuid4().hex[:8]}"
    engine = _prepare(config, options, staging, say, None)
    try:
        client_session = await engine.measure(workload, label)
    except BaseException:
        say(f"  power-dev's output is kept in {staging}")
        raise
    session_dir = out_root / client_session.name
    shutil.move(str(client_session), session_dir)
    shutil.move(str(staging / ENGINE_DIR), session_dir / ENGINE_DIR)
    shutil.rmtree(staging, ignore_errors=True)  # what is left: our own LoadGen scratch
    return session_dir, finish_session(session_dir, label, workload, options.power_dev)


def _prepare(config: Config, options: EngineOptions, staging: Path, say: Callable[[str], None],
             listen: tuple[str, int] | None) -> EngineRun:
    """The checks before anything starts, and the server.conf power-dev's server will read."""
    warning = check_checkout(options.power_dev)
    if warning:
        say(f"warning: {warning}")
    (staging / ENGINE_DIR).mkdir(parents=True)
    try:
        if options.conf_path is not None:
            conf_path = options.conf_path.resolve()
        else:
            conf_path = write_conf(config, options.ntp, staging / ENGINE_DIR / "server.conf", listen)
        conf = read_power_dev_conf(conf_path, engine=True)
        _check_layout(conf, options.power_dev)
        _check_ports(conf)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # ours, just made: nothing ran
        raise
    for note in conf.ignored:
        say(f"note: power-dev's server ignores {note} in {conf_path}")
    say(f"power-dev engine: {options.power_dev} (server.py and client.py unmodified), {conf_path}")
    return EngineRun(options, conf, conf_path, staging, say)


async def serve_engine(config: Config, options: EngineOptions, *, out_root: Path,
                       say: Callable[[str], None]) -> int:
    """``serve --power-dev``: power-dev's own server for remote power-dev clients (their
    session files go to them); its output journalled under ``out_root``."""
    staging = out_root / f"power-dev-serve-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    engine = _prepare(config, options, staging, say, (config.service.host, config.service.port))
    status = await engine.serve()
    if status != 0:
        raise SessionError(f"power-dev's server.py exited with status {status}: "
                           f"{engine.staging / ENGINE_DIR / 'journal.jsonl'} has its output")
    return 0
