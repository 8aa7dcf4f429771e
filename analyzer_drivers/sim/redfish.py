"""An emulated BMC: a DMTF-style mockup served by sushy-tools' real ``sushy-static`` emulator,
its power files rewritten as a load model moves.

``sushy-static`` (sushy-tools 2.2.0, ``sushy_tools/static/main.py``) reads
``<mockup>/<path>/index.json`` on every GET, so replacing a file (atomically) under it changes
what the next GET returns. The mockup follows DMTF's ``public-rackmount1`` (Redfish-Mockup-Server
commit 9a86585f5e93a6b102d5f32bcc20a6cd9fbe9474): ``Chassis/1U/Power`` (Power.v1_7_1,
``PowerControl[0].PowerConsumedWatts``, ``PowerMetrics.IntervalInMin``) and, for the newer
schema, ``Chassis/1U/EnvironmentMetrics`` (v1_3_0, ``PowerWatts``/``EnergykWh`` with
``DataSourceUri``) and ``Sensors/TotalPower``/``TotalEnergy`` (Sensor.v1_6_0, ``ReadingTime``,
``SensingInterval``, ``Accuracy``).

The BMC reads ``offset_watts + gain × (the load's mean over window_s, delay_s ago)`` every
``update_s``; its energy counter integrates the same. Faults (``analyzer_drivers.sim.faults``)
fire on the emulator's reads, counted from sushy-static's request log.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from analyzer_drivers.sim.faults import Fault, check_supported
from analyzer_drivers.sim.models import PowerModel, WaveModel
from analyzer_drivers.sim.redfish_mockup import (
    CHASSIS,
    iso_time,
    write_json,
    write_static_mockup,
)

REFUSED = {
    "overrange": "a BMC has no measuring ranges to exceed",
    "wrong-rate": "a BMC updates at its own rate; use update_s",
    "partial": "sushy-static answers whole files; 'garbage' covers a reply that is not JSON",
}
SUPPORTED_EXTRA = ("stale", "counter-wrap")
FAULT_READ = 3  # a fault fires on this GET of the power resource
STALE_UPDATES = 8  # a stale fault freezes the reading this many updates


@dataclass
class BmcModel:
    """What the BMC reads of a load: ``offset + gain × mean(load over window_s, delay_s ago)``."""

    load: PowerModel = field(default_factory=WaveModel)
    offset_watts: float = 0.0
    gain: float = 1.0
    window_s: float = 1.0
    delay_s: float = 0.0

    def watts(self, t_ns: int) -> float:
        center_ns = t_ns - self.delay_s * 1e9
        half_ns = self.window_s * 1e9 / 2
        mean = getattr(self.load, "mean_watts", None)
        if callable(mean):
            load_watts = float(mean(center_ns - half_ns, center_ns + half_ns))
        else:
            load_watts = self.load.reading(int(center_ns)).watts
        return self.offset_watts + self.gain * load_watts


#: An outage is taken to begin this long before the fault fired (a request in flight then).
LOG_RACE_NS = 50_000_000
#: sushy-static, with each GET also logged by its own process after the reply was written:
#: ``served BEGIN_NS END_NS PATH``. Its own log line comes before it opens the file, and a reader
#: thread here sees it late on a busy machine: neither tells which update a GET read; the span
#: stamped in the server's process around the whole handler does.
SERVED_LOG = """
import sys, time
from sushy_tools.static import main as static
handle = static.RequestHandler.do_GET
def do_get(self):
    begin_ns = time.time_ns()
    try:
        handle(self)
    finally:
        sys.stderr.write(f"served {begin_ns} {time.time_ns()} {self.path}\\n")
        sys.stderr.flush()
static.RequestHandler.do_GET = do_get
sys.exit(static.main())
"""
#: After a hang or drop, requests queued meanwhile (the driver gave up on them) are answered and
#: logged: replies logged this long after the outage may never have reached the driver.
OUTAGE_SLACK_NS = 1_000_000_000


@dataclass
class Served:
    """A value the BMC published that a GET read (what a client can have had). ``maybe``: the
    values after it, when an update came while the GET was handled (either can have been read)."""

    t_ns: int
    watts: float | None
    maybe: tuple[float | None, ...] = ()
    read_t_ns: int = 0


class RedfishSimulator:
    """Writes the mockup, runs ``sushy-static`` on it and moves its power readings."""

    def __init__(
        self,
        mockup_dir: Path,
        bmc: BmcModel | None = None,
        *,
        schema: str = "environment",
        update_s: float = 1.0,
        interval_min: int = 1,
        faults: list[Fault] | None = None,
        outage_s: float = 2.0,
        sent_log_path: Path | None = None,
    ) -> None:
        self.root = mockup_dir
        self.bmc = bmc or BmcModel()
        self.schema, self.update_s, self.interval_min = schema, update_s, interval_min
        self.faults = list(faults or [])
        check_supported(self.faults, "redfish", REFUSED, SUPPORTED_EXTRA)
        if schema == "legacy":
            check_supported(self.faults, "redfish", {
                "clock-jump": "the legacy Power resource has no reading time",
                "counter-wrap": "the legacy Power resource has no energy counter",
            }, SUPPORTED_EXTRA)
        self.outage_s = outage_s
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._ssl: tuple[str, str] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.history: list[tuple[int, float | None]] = []  # (t_ns, watts) of every update
        self._written_ns: list[int] = []  # when each update was in the files
        self.served: list[Served] = []
        #: (from, to) ns of each outage fault: a reply logged then may never have been delivered
        self.outages: list[tuple[int, int]] = []
        self.power_reads = 0
        self._energy_j = 0.0
        self._last_update_ns: int | None = None
        self._stale_left = 0
        self._spoil_left = 0
        self._jump_ns = 0
        self._sent = sent_log_path.open("a", encoding="utf-8") if sent_log_path else None
        self.events: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, port: int = 0, ssl_cert: str = "", ssl_key: str = "") -> int:
        write_static_mockup(self.root, self.schema)
        self._update(time.time_ns())
        self.port = _port_of_ours(port) if port else _free_port()
        self._ssl = (ssl_cert, ssl_key) if ssl_cert and ssl_key else None
        self._launch()
        writer = threading.Thread(target=self._update_loop, name="bmc-writer", daemon=True)
        writer.start()
        self._threads.append(writer)
        return self.port

    def _launch(self) -> None:
        if importlib.util.find_spec("sushy_tools") is None:
            raise RuntimeError("sushy-static not found: pip install 'power-director[datacenter]'")
        command = [sys.executable, "-c", SERVED_LOG,
                   "-i", "127.0.0.1", "-p", str(self.port), "-m", str(self.root)]
        if self._ssl:
            command += ["-c", self._ssl[0], "-k", self._ssl[1]]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        _wait_port(self.port, self._process)
        reader = threading.Thread(target=self._read_log, args=(self._process.stderr,), daemon=True)
        reader.start()
        self._threads.append(reader)

    def close(self) -> None:
        self._stop.set()
        self._kill()
        if self._sent is not None:
            self._sent.close()
            self._sent = None

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

    # --- the BMC's readings ---------------------------------------------------------------
    def _update_loop(self) -> None:
        while not self._stop.wait(self.update_s):
            self._update(time.time_ns())

    def _update(self, t_ns: int) -> None:
        with self._lock:
            if self._stale_left > 0:
                self._stale_left -= 1
                self._last_update_ns = t_ns
                return
            watts = self.bmc.watts(t_ns)
            if self._last_update_ns is not None:
                self._energy_j += watts * (t_ns - self._last_update_ns) / 1e9
            self._last_update_ns = t_ns
            published: float | None = watts
            if self._spoil_left > 0:
                self._spoil_left -= 1
                published = None
            self.history.append((t_ns, published))
            self._publish(t_ns, published)
            self._written_ns.append(time.time_ns())

    def _publish(self, t_ns: int, watts: float | None) -> None:
        stamp = iso_time(t_ns + self._jump_ns)
        value = None if watts is None else round(watts, 3)
        power = {
            "@odata.type": "#Power.v1_7_1.Power", "@odata.id": f"{CHASSIS}/Power",
            "Id": "Power", "Name": "Power",
            "PowerControl": [{
                "@odata.id": f"{CHASSIS}/Power#/PowerControl/0", "MemberId": "0",
                "Name": "System Input Power",
                "PowerConsumedWatts": value,
                "PowerMetrics": {"IntervalInMin": self.interval_min, "AverageConsumedWatts": value},
                "Status": {"State": "Enabled", "Health": "OK"},
            }],
        }
        write_json(self.root / "Chassis" / "1U" / "Power" / "index.json", power)
        if self.schema == "legacy":
            return
        sensors = self.root / "Chassis" / "1U" / "Sensors"
        write_json(sensors / "TotalPower" / "index.json", {
            "@odata.type": "#Sensor.v1_6_0.Sensor", "@odata.id": f"{CHASSIS}/Sensors/TotalPower",
            "Id": "TotalPower", "Name": "Power reading for the Chassis", "ReadingType": "Power",
            "Reading": value, "ReadingUnits": "W", "ReadingTime": stamp, "Accuracy": 2,
            "SensingInterval": f"PT{self.update_s:g}S", "PhysicalContext": "Chassis",
        })
        # kWh with 9 decimals (3.6 mJ): an emulator's choice; a real BMC's counter may be coarser.
        write_json(sensors / "TotalEnergy" / "index.json", {
            "@odata.type": "#Sensor.v1_6_0.Sensor", "@odata.id": f"{CHASSIS}/Sensors/TotalEnergy",
            "Id": "TotalEnergy", "Name": "Total Energy", "ReadingType": "EnergykWh",
            "Reading": round(self._energy_j / 3.6e6, 9), "ReadingUnits": "kW.h", "ReadingTime": stamp,
            "PhysicalContext": "Chassis",
        })
        write_json(self.root / "Chassis" / "1U" / "EnvironmentMetrics" / "index.json", {
            "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
            "@odata.id": f"{CHASSIS}/EnvironmentMetrics", "Name": "Chassis Environment Metrics",
            "PowerWatts": {"Reading": value, "DataSourceUri": f"{CHASSIS}/Sensors/TotalPower"},
            "EnergykWh": {"Reading": round(self._energy_j / 3.6e6, 9),
                          "DataSourceUri": f"{CHASSIS}/Sensors/TotalEnergy"},
        })

    # --- reads and faults -----------------------------------------------------------------
    def _read_log(self, stream: IO[str] | None) -> None:
        """Count the reads of the power resource, each with what it can have served."""
        if stream is None:
            return
        target = CHASSIS + ("/Power" if self.schema == "legacy" else "/Sensors/TotalPower")
        for line in stream:
            words = line.split()
            if len(words) != 4 or words[0] != "served" or words[3].rstrip("/") != target:
                continue
            with self._lock:
                self.power_reads += 1
                self._served_between(int(words[1]), int(words[2]))
            if self.power_reads >= FAULT_READ:
                self._fire_due()

    def _served_between(self, begin_ns: int, end_ns: int) -> None:
        """A GET handled from ``begin_ns`` to ``end_ns`` read the update in the files at some
        moment between: the first such update is taken, the others are ``maybe``."""
        if not self.history:
            return
        # update i was in the files from (at the latest) its write until update i + 1 began
        last = len(self.history) - 1
        candidates = [i for i, (t_ns, _) in enumerate(self.history)
                      if t_ns <= end_ns and (i == last or self._written_ns[i + 1] >= begin_ns)]
        first = candidates[0] if candidates else last
        t_ns, watts = self.history[first]
        maybe = tuple(self.history[i][1] for i in candidates[1:])
        if not self.served or self.served[-1].t_ns != t_ns:
            self.served.append(Served(t_ns, watts, maybe, begin_ns))
            if self._sent is not None:
                self._sent.write(f"{t_ns} {watts}\n")
                self._sent.flush()

    def _fire_due(self) -> None:
        for fault in self.faults:
            if not fault.fired:
                fault.fired = True
                self.events.append(fault.kind)
                threading.Thread(target=self._fire, args=(fault.kind,), daemon=True).start()
                return

    def _fire(self, kind: str) -> None:
        began_ns = time.time_ns()
        try:
            self._inject(kind)
        finally:
            if kind in ("hang", "drop", "restart", "garbage"):
                self.outages.append((began_ns - LOG_RACE_NS, time.time_ns() + OUTAGE_SLACK_NS))

    def _inject(self, kind: str) -> None:
        with self._lock:
            if kind == "stale":
                self._stale_left = STALE_UPDATES
            elif kind == "sentinels":
                self._spoil_left = 3
            elif kind == "counter-wrap":
                self._energy_j = 0.0  # a BMC reset or a wrapped counter: it goes down
            elif kind == "clock-jump":
                self._jump_ns = 5_000_000_000
        if kind == "hang" and self._process is not None:
            self._process.send_signal(signal.SIGSTOP)
            time.sleep(self.outage_s)
            if self._process is not None:
                self._process.send_signal(signal.SIGCONT)
        elif kind in ("drop", "restart"):
            self._kill()
            time.sleep(self.outage_s)
            if not self._stop.is_set():
                if kind == "restart":
                    with self._lock:
                        self._energy_j = 0.0
                self._launch()
        elif kind == "garbage":  # junk in place of the power resource until the BMC updates again
            with self._lock:
                self._stale_left = STALE_UPDATES
                self.history.append((time.time_ns(), None))  # what GETs now serve is no reading
                name = "Power" if self.schema == "legacy" else "Sensors/TotalPower"
                write_json(self.root / "Chassis" / "1U" / name / "index.json", "\x00\xff#@! not json")
                self._written_ns.append(time.time_ns())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_of_ours(port: int) -> int:
    """``port``, if nothing listens there (otherwise sushy-static fails to bind it, and whatever
    listens there would answer in its place); RuntimeError naming it if something does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"port {port} on 127.0.0.1 is taken ({exc.strerror}): "
                               "another program listens there; pick another --port") from None
    return port


def _wait_port(port: int, process: subprocess.Popen[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sushy-static exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sushy-static did not listen on port {port} within {timeout_s:g} s")
