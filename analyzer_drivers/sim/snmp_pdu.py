"""An emulated rack PDU: Debian's ``snmpsimd`` (snmpsim 0.4.5) serving ``.snmprec`` data shaped
like each family's MIB (the OIDs in ``analyzer_drivers.meters.snmp_mibs``), with the SNMP types real agents
answer (``tests/test_snmp_corpus.py`` checks each served column's type against the recordings of
real devices under ``tests/fixtures/snmprec/``): the outlets, and the whole-PDU table a real agent
also has (Raritan inlet 1, APC rPDU2DeviceStatusPower in hundredths of kW, Sentry4 input cord), whose
value is the outlets' sum; Raritan's IsAvailable/State columns and ENTITY-SENSOR's OperStatus ok(1).

Outlet power follows a sine on the absolute clock through snmpsim's ``numeric`` variation module
(``function=sin,atime=1``: ``offset + scale × sin(rate × t)``, evaluated at each request), so it
is the same load as ``WaveModel``; energy counters use its ``cumulative`` mode (``offset`` units
per second × ``rate``) and ``wrap``. The community (v2c) and the context (v3) are the data file's
name. snmpsimd logs every response's var-binds: that log says what the agent served.

Debian's snmpsim, not PyPI's, because it runs in the system interpreter with its own pysnmp 4.4,
apart from the pysnmp 7 our driver uses; snmpsim re-reads a data file whose mtime changed, which
the ``stale`` and ``sentinels`` faults use.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer_drivers.meters.snmp_mibs import ENTITY as _ENTITY
from analyzer_drivers.meters.snmp_mibs import RARITAN as _RARITAN
from analyzer_drivers.meters.snmp_mibs import Source, outlet_source, source
from analyzer_drivers.sim.faults import Fault, check_supported

DATA_NAME = "pdu"
REFUSED = {
    "restart": "use 'drop': an SNMP agent keeps no session to lose",
    "garbage": "snmpsimd answers well-formed BER only",
    "partial": "snmpsimd answers well-formed BER only",
    "overrange": "a PDU has no measuring ranges to exceed",
    "wrong-rate": "snmpsim evaluates readings at each request",
    "clock-jump": "SNMP readings carry no timestamps",
}
FAULT_READ = 3
ENERGY_DIGITS = 3  # Raritan activeEnergy decimal digits served (mWh): an emulator's choice
SIM_FAMILIES = ("raritan", "apc", "sentry4", "entity")
# SNMP type tags of the power columns as real agents answer them (tests/fixtures/snmprec/)
TAGS = {"raritan": "66", "apc": "2", "sentry4": "2", "entity": "2"}
# the whole-PDU source served beside the outlets, its row and its units per W
TOTALS: dict[str, tuple[str, str, float]] = {
    "raritan": ("inlet", "1.1", 1.0), "apc": ("device", "1", 0.1), "sentry4": ("cord", "1.1", 1.0),
}
_RESPONSE = re.compile(r"Response var-binds: (.*)$")
_BIND = re.compile(r"([\d.]+)=<([^>]*)>")


@dataclass(frozen=True, slots=True)
class Outlet:
    index: str
    idle_watts: float = 120.0
    amplitude_watts: float = 30.0
    available: bool = True  # False: value 0 with the sensor marked unavailable, as real agents do


@dataclass
class Served:
    """One response of the agent: its power values (None: no such object) and when it was logged."""

    read_t_ns: int
    powers: tuple[int | None, ...]
    energies: tuple[int | None, ...] = ()


@dataclass
class PduData:
    """The ``.snmprec`` lines of one PDU."""

    family: str
    outlets: list[Outlet]
    period_s: float = 10.0
    energy: bool = True
    wrap: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def source(self) -> Source:
        return outlet_source(self.family)

    def power_oid(self, outlet: Outlet) -> str:
        return self.source.power.format(i=outlet.index)

    def energy_oid(self, outlet: Outlet) -> str | None:
        template = self.source.energy
        return template.format(i=outlet.index) if template and self.energy else None

    def render(self, frozen: dict[str, int] | None = None, missing: bool = False) -> str:
        """The data file; ``frozen`` serves fixed values instead, ``missing`` leaves power out."""
        records: list[tuple[str, str]] = [
            ("1.3.6.1.2.1.1.1.0", f"4|power-director emulated {self.family} PDU")
        ]
        for outlet in self.outlets:
            records += self._outlet_records(outlet, frozen, missing)
        if not frozen and not missing:
            records += self._total_records()
        if self.family == "raritan":
            pdu = self.outlets[0].index.split(".")[0]
            records.append((f"{_RARITAN}.3.2.4.1.2.{pdu}", "2|1"))  # measurementPeriod 1 s
        records.sort(key=lambda r: tuple(int(x) for x in r[0].split(".")))
        return "".join(f"{oid}|{value}\n" for oid, value in records)

    def _outlet_records(
        self, outlet: Outlet, frozen: dict[str, int] | None, missing: bool
    ) -> list[tuple[str, str]]:
        power_oid, energy_oid = self.power_oid(outlet), self.energy_oid(outlet)
        tag = TAGS[self.family]
        unit = 10 if self.family == "entity" else 1  # entity: precision 1 (tenths of W)
        records: list[tuple[str, str]] = []
        if not missing:
            wave = (
                f"{tag}:numeric|function=sin,atime=1,rate={2 * math.pi / self.period_s:.9f},"
                f"scale={outlet.amplitude_watts * unit:g},offset={outlet.idle_watts * unit:g},"
                "min=0,max=1000000"
            )
            if not outlet.available:
                wave = f"{tag}|0"
            records.append((power_oid, f"{tag}|{frozen[power_oid]}" if frozen else wave))
        if energy_oid:
            digits = ENERGY_DIGITS if self.family == "raritan" else 0
            wraps_at = self.source.wraps_at
            initial = wraps_at - 200 if self.wrap else 1_000_000
            counter = (
                f"{tag}:numeric|cumulative=1,atime=1,scale=0,offset={outlet.idle_watts * 10**digits:g},"
                f"rate={1 / 3600:.12f},initial={initial},min=0,max={wraps_at - 1},wrap=1"
            )
            records.append((energy_oid, f"{tag}|{frozen[energy_oid]}" if frozen else counter))
        if self.family == "raritan":
            records += [
                (f"{_RARITAN}.3.5.4.1.7.{outlet.index}.5", "66|0"),
                (f"{_RARITAN}.3.5.4.1.7.{outlet.index}.8", f"66|{ENERGY_DIGITS}"),
                # IsAvailable true(1) / false(2), State normal(4) / unavailable(-1)
                (f"{_RARITAN}.5.4.3.1.2.{outlet.index}.5", "2|1" if outlet.available else "2|2"),
                (f"{_RARITAN}.5.4.3.1.3.{outlet.index}.5", "2|4" if outlet.available else "2|-1"),
            ]
        if self.family == "entity":
            status = 1 if outlet.available else 2  # entPhySensorOperStatus ok(1) / unavailable(2)
            columns = ((1, 6), (2, 9), (3, 1), (5, status))  # watts, units, precision 1
            records += [(f"{_ENTITY}.{k}.{outlet.index}", f"2|{v}") for k, v in columns]
        return records

    def _total_records(self) -> list[tuple[str, str]]:
        """The whole-PDU reading: the outlets' waves summed (same function, rate and phase)."""
        if self.family not in TOTALS:
            return []
        name, row, units_per_watt = TOTALS[self.family]
        idle = sum(o.idle_watts for o in self.outlets) * units_per_watt
        amplitude = sum(o.amplitude_watts for o in self.outlets) * units_per_watt
        tag = TAGS[self.family]
        wave = (
            f"{tag}:numeric|function=sin,atime=1,rate={2 * math.pi / self.period_s:.9f},"
            f"scale={amplitude:g},offset={idle:g},min=0,max=1000000"
        )
        records = [(source(self.family, name).power.format(i=row), wave)]
        if self.family == "raritan":
            records += [(f"{_RARITAN}.3.3.4.1.7.{row}.5", "66|0"), (f"{_RARITAN}.5.2.3.1.3.{row}.5", "2|4")]
        return records


class SnmpPduSimulator:
    """Runs ``snmpsimd`` on a PDU's data (community / context ``pdu``); faults fire on its third
    response. ``recordings`` (``.snmprec``/``.snmpwalk`` files of real agents) are served beside it,
    each under its file name as community (v2c) and context (v3)."""

    def __init__(
        self,
        data: PduData,
        *,
        v3_user: str = "director",
        v3_auth_key: str = "auth-key-123",
        v3_priv_key: str = "priv-key-123",
        faults: list[Fault] | None = None,
        outage_s: float = 2.0,
        recordings: Sequence[Path] = (),
    ) -> None:
        self.data = data
        self.recordings = list(recordings)
        self.v3 = (v3_user, v3_auth_key, v3_priv_key)
        self.faults = list(faults or [])
        check_supported(self.faults, "snmp", REFUSED, ("stale", "counter-wrap"))
        if any(f.kind == "counter-wrap" for f in self.faults):
            data.wrap = True
        self.outage_s = outage_s
        self.port = 0
        self._tmp = tempfile.mkdtemp(prefix="pd-snmpsim-")
        self.root = Path(self._tmp)
        self.log_path = self.root / "snmpsimd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self.served: list[Served] = []
        self.outages: list[tuple[int, int]] = []
        self.events: list[str] = []

    @property
    def data_file(self) -> Path:
        return self.root / "data" / f"{DATA_NAME}.snmprec"

    def start(self, port: int = 0) -> int:
        exe = shutil.which("snmpsimd") or shutil.which("snmpsimd.py")
        if exe is None:
            raise RuntimeError("snmpsimd not found: apt-get install snmpsim")
        for sub in ("data", "cache"):
            (self.root / sub).mkdir(exist_ok=True)
        self._write(self.data.render())
        for recording in self.recordings:
            copy = self.root / "data" / recording.name
            shutil.copyfile(recording, copy)
            os.chmod(copy, 0o644)
        os.chmod(self.root, 0o777)
        for path in (self.root / "data", self.root / "cache"):
            os.chmod(path, 0o777)
        self.port = port or _free_udp_port()
        self._launch()
        threading.Thread(target=self._tail_log, daemon=True).start()
        return self.port

    def _write(self, text: str) -> None:
        tmp = self.data_file.with_suffix(".tmp")
        tmp.write_text(text, encoding="ascii")
        os.chmod(tmp, 0o666)
        os.replace(tmp, self.data_file)
        # snmpsim compares whole-second mtimes: make each rewrite a new second
        stamp = time.time() + len(self.events)
        os.utime(self.data_file, (stamp, stamp))

    def _launch(self) -> None:
        exe = shutil.which("snmpsimd") or "snmpsimd"
        user, auth, priv = self.v3
        command = [
            exe,
            f"--data-dir={self.root / 'data'}",
            f"--cache-dir={self.root / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            f"--v3-user={user}",
            f"--v3-auth-key={auth}",
            "--v3-auth-proto=SHA",
            f"--v3-priv-key={priv}",
            "--v3-priv-proto=AES",
            f"--logging-method=file:{self.log_path}",
        ]
        if os.geteuid() == 0:  # snmpsimd refuses to run as root
            command += ["--process-user=nobody", "--process-group=nogroup"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"snmpsimd exited with status {self._process.returncode}")
            if self.log_path.is_file() and "Listening at" in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError("snmpsimd did not start listening")

    def close(self) -> None:
        self._stop.set()
        self._kill()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- what was served, and faults -------------------------------------------------------
    def _tail_log(self) -> None:
        power_oids = [self.data.power_oid(o) for o in self.data.outlets]
        energy_oids = [oid for o in self.data.outlets if (oid := self.data.energy_oid(o))]
        offset = 0
        while not self._stop.is_set():
            try:
                with self.log_path.open("r", errors="replace") as log:
                    log.seek(offset)
                    lines = log.readlines()
                    offset = log.tell()
            except OSError:
                lines = []
            for line in lines:
                self._note_response(line, power_oids, energy_oids)
            time.sleep(0.02)

    def _note_response(self, line: str, power_oids: list[str], energy_oids: list[str]) -> None:
        match = _RESPONSE.search(line)
        if not match:
            return
        binds = dict(_BIND.findall(match.group(1)))
        if not any(oid in binds for oid in power_oids):
            return

        def value(oid: str) -> int | None:
            text = binds.get(oid, "")
            return int(text) if text.lstrip("-").isdigit() else None

        self.served.append(
            Served(time.time_ns(), tuple(value(o) for o in power_oids), tuple(value(o) for o in energy_oids))
        )
        if len(self.served) >= FAULT_READ:
            for fault in self.faults:
                if not fault.fired:
                    fault.fired = True
                    self.events.append(fault.kind)
                    threading.Thread(target=self._fire, args=(fault.kind,), daemon=True).start()
                    break

    def _fire(self, kind: str) -> None:
        began_ns = time.time_ns()
        if kind == "hang" and self._process is not None:
            self._process.send_signal(signal.SIGSTOP)
            time.sleep(self.outage_s)
            if self._process is not None:
                self._process.send_signal(signal.SIGCONT)
        elif kind == "drop":
            self._kill()
            time.sleep(self.outage_s)
            if not self._stop.is_set():
                self._launch()
        elif kind in ("stale", "sentinels"):
            last = self.served[-1]
            oids = [self.data.power_oid(o) for o in self.data.outlets]
            energy = [oid for o in self.data.outlets if (oid := self.data.energy_oid(o))]
            frozen = {
                **dict(zip(oids, last.powers, strict=True)),
                **dict(zip(energy, last.energies, strict=True)),
            }
            self._write(
                self.data.render(frozen={k: v or 0 for k, v in frozen.items()}, missing=kind == "sentinels")
            )
            time.sleep(self.outage_s)
            self._write(self.data.render())
        if kind in ("hang", "drop"):
            # requests queued meanwhile are answered (and logged) after the driver gave up on them
            self.outages.append((began_ns - 50_000_000, time.time_ns() + 1_000_000_000))


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
