"""A server that speaks SPEC PTDaemon's network protocol over a simulated meter.

Users point the director (or any PTDaemon client) at it to test a setup without a
licence or a meter. Replies follow docs/protocols.md#ptdaemon; readings come from a PowerModel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.ptd_line import format_sample_lines
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS, format_mlperf_time
from analyzer_drivers.meters.specs import METERS, MeterSpec
from analyzer_drivers.sim.faults import GARBAGE, Fault, data_faults, due_protocol_fault, spoil_all
from analyzer_drivers.sim.line_server import LineServer, serve_until_cancelled
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel, readings_at
from analyzer_drivers.sim.ptd_identity import IDENTITIES, rl_every_channel_header
from analyzer_drivers.sim.ptd_state import Measurement, RangeState, Tally, split_reading

log = logging.getLogger("power_director.sim.ptd")

MAX_SAMPLES = 500_000
#: Below this period the sampler wakes once per period and takes every sample due by then.
BATCH_PERIOD_NS = 10 * NS_PER_MS
MAX_CHANNELS = 64
MIN_SIM_INTERVAL_MS = 0.001


class PtdSimulator(LineServer):
    """The simulated daemon: state, sampling task and the command table."""

    def __init__(
        self,
        model: PowerModel | None = None,
        identity: str = "sim",
        log_path: Path | None = None,
        averaging_ms: int = 1000,
        sent_log_path: Path | None = None,
        faults: list[Fault] | None = None,
        interval_ms: float | None = None,
        channels: int = 1,
        channel_shares: tuple[float, ...] | None = None,
        stamp_offset_s: int = 0,
        unknown_autorange: bool = False,
    ) -> None:
        """``interval_ms`` fixes the sampling interval whatever ``Go`` asks (a meter's own
        update rate; may be well below Go's 10 ms minimum); ``channels`` > 1 makes a
        multichannel daemon that answers ``RL,*,*``, the model's power split evenly or by
        ``channel_shares`` (0: an unused input, negative: a failing one); ``stamp_offset_s``
        stamps samples that far ahead of UTC, as a daemon on local time (not started with TZ=UTC) does;
        ``unknown_autorange`` makes RR report the auto flags as -1 (unknown; power-dev's
        lib/server.py ``_get_initial_range`` documents the value)."""
        super().__init__()
        if identity not in IDENTITIES:
            raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
        if interval_ms is not None and not MIN_SIM_INTERVAL_MS <= interval_ms <= 60_000:
            raise ValueError(f"interval_ms {interval_ms:g} is outside {MIN_SIM_INTERVAL_MS:g}..60000")
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"channels {channels} is outside 1..{MAX_CHANNELS}")
        shares = channel_shares or (1.0 / channels,) * channels
        if len(shares) != channels or not math.isclose(sum(max(0.0, s) for s in shares), 1.0):
            raise ValueError(f"channel_shares {shares} must be {channels} fractions adding up to 1")
        self.interval_ms = interval_ms
        self.channels = channels
        self.shares = shares
        self.stamp_offset_ns = stamp_offset_s * 1_000_000_000
        self.unknown_autorange = unknown_autorange
        self.identity = IDENTITIES[identity]
        self.spec: MeterSpec = METERS[self.identity.model]
        self.model = model or CpuUtilisationModel()
        self.averaging_ms = averaging_ms
        self.ranges = RangeState()
        self.unread: deque[Sample] = deque(maxlen=MAX_SAMPLES)
        self.measurement: Measurement | None = None
        self.last_measurement: Measurement | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._log_file: TextIO | None = log_path.open("a", encoding="utf-8") if log_path else None
        # Each RL reply's samples as sent: what a client can have had, to check it kept them all.
        self._sent_file: TextIO | None = sent_log_path.open("a", encoding="utf-8") if sent_log_path else None
        self.faults: list[Fault] = list(faults or [])

    # --- server lifecycle -------------------------------------------------------------
    async def start_server(self, host: str = "127.0.0.1", port: int = 0, announce: bool = True) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one). ``announce``: print
        PTDaemon's start-up lines now (else call ``announce()``)."""
        bound_port = await self.listen(host, port)
        if announce:
            self.announce()
        return bound_port

    def announce(self) -> None:
        if self.identity.driver.startswith("Yokogawa"):
            # PTDaemon prints this once connected to a Yokogawa meter (real ptd_logs.txt).
            self._say(f"Uncertainty checking for {self.identity.driver} is activated")

    async def close(self) -> None:
        await self._stop_sampling()
        await self.close_clients()
        for out in (self._log_file, self._sent_file):
            if out is not None:
                out.close()
        self._log_file = self._sent_file = None

    async def on_line_too_long(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Error: command too long\r\n")

    async def on_line(self, line: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = self._protocol_fault(line)
        if fault == "hang":
            return True
        if fault in ("drop", "restart", "partial"):
            if fault == "restart":
                self._stop([])
                self.unread.clear()
            writer.write(b"Last 3 sam" if fault == "partial" else b"")
            await writer.drain()
            return False
        reply = GARBAGE if fault == "garbage" else self.handle(line)
        writer.write(reply.encode() + b"\r\n")
        await writer.drain()
        return True

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _protocol_fault(self, line: str) -> str | None:
        """The protocol fault that this command meets, if one is due (each fires once).

        ``drop`` closes the connection, ``restart`` also loses the measurement (a daemon
        restart), ``hang`` never answers, ``garbage`` answers junk, ``partial`` sends half a
        line and closes.
        """
        measurement = self.measurement
        if measurement is None or line.strip().upper() not in ("RL", "RL,*,*"):
            return None
        measurement.polls += 1
        return due_protocol_fault(self.faults, measurement.mark, measurement.polls)

    # --- the command table --------------------------------------------------------------
    def handle(self, line: str) -> str:
        """The reply (possibly several lines joined by CRLF) to one command line."""
        fields = line.split(",")
        command = fields[0].strip().lower()
        handler = {
            "hello": self._hello,
            "identify": self._identify,
            "rr": self._read_ranges,
            "sr": self._set_range,
            "go": self._go,
            "stop": self._stop,
            "rl": self._read_last,
            "watts": self._watts,
            "uncertainty": self._uncertainty,
        }.get(command)
        if handler is None:
            return "Unknown command"
        return handler(fields[1:])

    def _hello(self, args: list[str]) -> str:
        return "Hello, PTDaemon here!"

    def _identify(self, args: list[str]) -> str:
        return self.identity.identify_reply(self.averaging_ms, self.channels)

    def _read_ranges(self, args: list[str]) -> str:
        volts, amps = self.ranges.in_use()
        amp_auto = -1 if self.unknown_autorange else int(self.ranges.amps is None)
        volt_auto = -1 if self.unknown_autorange else int(self.ranges.volts is None)
        return f"Ranges,{amp_auto},{amps:.6f},{volt_auto},{volts:.6f}"

    def _set_range(self, args: list[str]) -> str:
        if len(args) != 2 or args[0].upper() not in ("V", "A"):
            return "Invalid number of parameters"
        if self.measurement is not None:
            return "Meter busy"
        which, value = args[0].upper(), args[1].strip()
        if value.lower() == "auto":
            snapped = None
        else:
            try:
                requested = float(value)
                if not math.isfinite(requested) or requested <= 0:
                    raise ValueError(value)
                snap = self.spec.snap_volts if which == "V" else self.spec.snap_amps
                snapped = snap(requested)
            except (ValueError, AnalyzerError):  # not a number, or above the meter's largest range
                return f"Error: invalid range '{value}'"
        if which == "V":
            self.ranges.volts = snapped
        else:
            self.ranges.amps = snapped
        return f"Range {which} changed"

    def _go(self, args: list[str]) -> str:
        if len(args) != 3:
            return "Invalid number of parameters"
        if self.measurement is not None:
            return "Error: measurement already running"
        try:
            interval_ms, rampup = int(args[0]), int(args[1])
        except ValueError:
            return "Error: invalid interval"
        if not 10 <= interval_ms <= 60_000 or rampup < 0:
            return "Error: invalid interval"
        mark = args[2].strip()
        self.unread.clear()
        self.measurement = Measurement(mark=mark, interval_ms=interval_ms, t0_ns=time.time_ns())
        self._sampler = asyncio.get_running_loop().create_task(self._sample_loop(self.measurement))
        self._say(f"Go with mark '{mark}'")
        return (
            f"Starting untimed measurement, maximum {MAX_SAMPLES} samples at {interval_ms}ms "
            f"with {rampup} rampup samples"
        )

    def _stop(self, args: list[str]) -> str:
        if self.measurement is None:
            return "Error: no measurement to stop"
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        self.last_measurement, self.measurement = self.measurement, None
        self._say("Completed test")
        return "Stopping untimed measurement"

    def _read_last(self, args: list[str]) -> str:
        """``RL``; a multichannel daemon also answers ``RL,*,*`` with every channel."""
        every_channel = [a.strip() for a in args] == ["*", "*"]
        if args and not (every_channel and self.channels > 1):
            return "Invalid number of parameters"
        samples = self._stamped([self.unread.popleft() for _ in range(len(self.unread))])
        self._log_sent(samples, every_channel)
        # A real RL,*,* reply has bare Watts..PF groups, no Ch<n> (v4.1 NVIDIA H200 server.log).
        lines = format_sample_lines(samples, channels=every_channel, bare=True)
        head = rl_every_channel_header(len(samples), self.channels) if every_channel else None
        return "\r\n".join([head or f"Last {len(samples)} samples", *lines])

    def _stamped(self, samples: list[Sample]) -> list[Sample]:
        """The samples as this daemon stamps them (local time when ``stamp_offset_s``)."""
        if not self.stamp_offset_ns:
            return samples
        return [replace(s, t_ns=s.t_ns + self.stamp_offset_ns) for s in samples]

    def _log_sent(self, samples: list[Sample], every_channel: bool) -> None:
        current = self._current()
        if self._sent_file is None or current is None:
            return
        self._sent_file.write(f"RL {len(samples)}\n")
        self._sent_file.writelines(
            line + "\n" for line in format_sample_lines(samples, current.mark, channels=every_channel)
        )
        self._sent_file.flush()

    def _current(self) -> Measurement | None:
        return self.measurement or self.last_measurement

    def _watts(self, args: list[str]) -> str:
        current = self._current()
        watts = current.watts if current else Tally()
        taken, valid = watts.offered, watts.kept
        if not valid:
            return f"Watts,-1.000000,-1.000000,-1.000000,{taken},{taken},0"
        return (
            f"Watts,{watts.total / valid:.6f},{watts.low:.6f},{watts.high:.6f},"
            f"{taken},{taken - valid},{valid}"
        )

    def _uncertainty(self, args: list[str]) -> str:
        current = self._current()
        tally = current.uncertainty if current else Tally()
        total, known, invalid = tally.offered, tally.kept, tally.above_limit
        if not known:
            return f"Uncertainty,-1.000000,-1.000000,-1.000000,{total},0,0,{total}"
        return (
            f"Uncertainty,{tally.total / known:.6f},{tally.low:.6f},{tally.high:.6f},"
            f"{total},{invalid},{known - invalid},{total - known}"
        )

    # --- sampling ----------------------------------------------------------------------------
    async def _sample_loop(self, measurement: Measurement) -> None:
        # Data faults: overrange (×4), sentinels (-1, -2, NaN), wrong-rate (twice the asked
        # interval), clock-jump (the daemon host's clock jumps 5 s ahead).
        faults = data_faults(self.faults, measurement.mark)
        interval_ns = self._interval_ns(measurement) * (2 if "wrong-rate" in faults else 1)
        index = 1  # the next sample's number in the measurement
        woke_ns = measurement.t0_ns
        while True:
            due_ns = measurement.t0_ns + index * interval_ns
            woke_ns = max(due_ns, woke_ns + BATCH_PERIOD_NS)
            await asyncio.sleep(max(0.0, (woke_ns - time.time_ns()) / 1e9))
            last = (max(time.time_ns(), due_ns) - measurement.t0_ns) // interval_ns
            count = min(last - index + 1, MAX_SAMPLES)
            t_ns = measurement.t0_ns + interval_ns * np.arange(index, index + count, dtype=np.int64)
            batch = self._take_samples(t_ns)
            if faults:
                batch = [spoil_all(faults, index + k, sample) for k, sample in enumerate(batch)]
            self._record(measurement, batch)
            index += count

    def _interval_ns(self, measurement: Measurement) -> int:
        interval_ms = measurement.interval_ms if self.interval_ms is None else self.interval_ms
        return max(1, round(interval_ms * NS_PER_MS))

    def _take_samples(self, t_ns: npt.NDArray[np.int64]) -> list[Sample]:
        """The samples at these times: one model call for the batch, split over the channels."""
        readings = readings_at(self.model, t_ns)
        share = max(self.shares)
        if self.ranges.volts is None:
            self.ranges.auto_volts_pick = self.spec.snap_volts(float(readings.volts.max()))
        if self.ranges.amps is None:
            self.ranges.auto_amps_pick = self.spec.snap_amps(float(readings.amps.max()) * share)
        columns = (t_ns.tolist(), readings.watts.tolist(), readings.volts.tolist(),
                   readings.amps.tolist(), readings.pf.tolist())
        if self.channels == 1:
            return list(map(Sample, *columns))
        return [split_reading(t, w, v, a, pf, self.shares) for t, w, v, a, pf in zip(*columns, strict=True)]

    def _record(self, measurement: Measurement, batch: list[Sample]) -> None:
        volts_range, amps_range = self.ranges.in_use()
        watts = np.fromiter((s.watts for s in batch), np.float64, len(batch))
        uncertainties = np.fromiter(
            (self.spec.sample_uncertainty(w, volts_range, amps_range, elements=self.channels)
             for w in watts.tolist()), np.float64, len(batch))
        measurement.watts.add(watts, watts > 0)
        measurement.uncertainty.add(uncertainties, np.isfinite(uncertainties), limit=0.01)
        for sample, uncertainty in zip(batch, uncertainties.tolist(), strict=True):
            if math.isfinite(uncertainty) and uncertainty > 0.01:
                # PTDaemon 1.10+'s console line per sample over the limit (docs/protocols.md#ptdaemon).
                self._say(f"WARNING: Uncertainty {100 * uncertainty:.2f}%, which is above 1.00% "
                          "limit for the last sample!", sample.t_ns)
        self.unread.extend(batch)
        if self._log_file is not None:
            lines = format_sample_lines(self._stamped(batch), measurement.mark)
            self._log_file.writelines(line + "\n" for line in lines)
            self._log_file.flush()

    async def _stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None

    def _say(self, message: str, t_ns: int | None = None) -> None:
        log.info("%s: %s", format_mlperf_time(time.time_ns() if t_ns is None else t_ns), message)


async def serve_forever(simulator: PtdSimulator, host: str, port: int) -> None:
    """Run a simulator until cancelled (the ``power-director sim ptd`` command)."""
    await serve_until_cancelled(
        lambda: simulator.start_server(host, port, announce=False),
        lambda bound: f"PTDaemon simulator listening on {host}:{bound}",
        simulator.close, simulator.announce,
    )
