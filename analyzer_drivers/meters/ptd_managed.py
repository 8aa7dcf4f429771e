"""A PTDaemon the driver starts itself, as power-dev's server does (``Ptd._start`` in
``ptd_client_server/lib/server.py`` at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2): the launch
line of ``ptd_launch``, ``TZ=UTC``, its console into a log, a refusal when the port is already
taken, then the usual PTDaemon client. A daemon that died is started again on ``reconnect``
(the session bounds how long that may take); leaving the context stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.meters.ptd_launch import PtdLaunch

STOP_TIMEOUT_S = 10.0  # power-dev's Ptd.terminate waits 10 s before killing
PORT_PROBE_S = 0.1


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ManagedPtdAnalyzer(PtdAnalyzer):
    """PTDaemon started, watched, restarted and stopped by us on 127.0.0.1."""

    def __init__(
        self,
        launch: PtdLaunch,
        *,
        log_dir: Path | None = None,
        log_path: str = "",
        connect_timeout_s: float = 30.0,
        reply_timeout_s: float = 10.0,
    ) -> None:
        """``log_dir``: where the daemon's ``-l`` log and console go (default: a new temporary
        directory, as power-dev's, removed when the daemon is stopped); ``log_path``: the ``-l``
        file an explicit command named."""
        super().__init__("127.0.0.1", launch.network_port, connect_timeout_s=connect_timeout_s,
                         reply_timeout_s=reply_timeout_s, timezone="UTC")
        self.launch = launch
        self._own_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="power-director-ptd-"))
        self.log_path = log_path or str(self.log_dir / "ptd_logfile_1.log")
        self.console_path = self.log_dir / "ptd_console.txt"
        self.command_line = launch.command(self.log_path)
        self.starts = 0
        self.exits: list[int] = []  # each exit status we saw, in order
        self._process: asyncio.subprocess.Process | None = None
        self._console: IO[bytes] | None = None

    @property
    def where(self) -> str:
        return f"PTDaemon we started on port {self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def _start_daemon(self) -> None:
        if await _port_open(self.port):
            raise AnalyzerError(f"the PTDaemon port {self.port} is already occupied: "
                                "something else listens there")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._console is None:
            self._console = self.console_path.open("ab")
        env = {**os.environ, "TZ": "UTC"}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.command_line, stdin=asyncio.subprocess.DEVNULL, stdout=self._console,
                stderr=asyncio.subprocess.STDOUT, env=env)
        except OSError as exc:
            raise AnalyzerError(
                f"cannot start PTDaemon {self.command_line[0]}: {exc.strerror or exc}") from None
        self.starts += 1
        await self._wait_for_port()

    async def _wait_for_port(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        while not await _port_open(self.port):
            assert self._process is not None
            if self._process.returncode is not None:
                self.exits.append(self._process.returncode)
                raise AnalyzerError(f"PTDaemon exited with status {self._process.returncode} on start: "
                                    f"{self._last_console_line() or 'no output'}")
            if time.monotonic() >= deadline:
                await self._stop_daemon()
                raise AnalyzerError(f"PTDaemon did not open port {self.port} within "
                                    f"{self.connect_timeout_s:g} s")
            await asyncio.sleep(PORT_PROBE_S)

    def _last_console_line(self) -> str:
        try:
            lines = self.console_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    async def _stop_daemon(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if process is not None and process.returncode is not None and process.returncode not in (0, -15):
            self.exits.append(process.returncode)

    async def connect(self) -> None:
        if not self._alive():
            await self._start_daemon()
        await super().connect()

    async def reconnect(self) -> None:
        """A lost link: start the daemon again when it died, then connect."""
        await self.close()
        if self._process is not None and self._process.returncode is not None:
            self.exits.append(self._process.returncode)
            self._process = None
        await self.connect()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.close()
        finally:
            await self._stop_daemon()
            if self._console is not None:
                self._console.close()
                self._console = None
            if self._own_dir:
                shutil.rmtree(self.log_dir, ignore_errors=True)

    async def identify(self) -> AnalyzerInfo:
        info = await super().identify()
        return AnalyzerInfo(info.name, info.model, info.averaging_ms, info.version, info.raw,
                            {**info.extra, **self.facts()})

    def facts(self) -> dict[str, str]:
        """What server.json's ``ptd_config`` keeps, as strings for the session record."""
        config: dict[str, Any] = self.launch.ptd_config(self.log_path)
        config["command"] = self.command_line
        return {"ptd_config": json.dumps(config)}
