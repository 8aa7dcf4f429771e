"""The remote SUT seen from the director: a ``Workload`` whose phases run on the agent.

``run(phase, log_dir)`` aligns clocks, tells the agent to run the phase, receives the
LoadGen logs it ships into ``log_dir``, aligns clocks again and hands the session its newest
clock fit, with which the session corrects each phase's window (``clock`` in ``session.json``).
A dropped agent is a WorkloadError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.session_meta import ClockBatch, ClockRecord
from analyzer_drivers.formats.window import Window
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log
from loadgen_bridge.remote.wire import Connection, MalformedMessage, WireError, field_of
from loadgen_bridge.workload import LOADGEN_LOG_NAMES, WorkloadError
from power_director.config.loader import ServiceConfig
from power_director.fleet.clock import ClockModel, Exchange, OffsetEstimate, estimate_offset, fit_clock


async def measure_offset(channel: Connection, rounds: int) -> OffsetEstimate:
    """``rounds`` four-timestamp exchanges with the agent; the batch's offset estimate."""
    exchanges = []
    for round_id in range(rounds):
        t1_ns = time.time_ns()
        await channel.send({"type": "time_req", "id": round_id})
        reply = await channel.recv()
        t4_ns = time.time_ns()
        if reply["type"] != "time_reply" or reply.get("id") != round_id:
            raise WireError(f"expected time_reply {round_id}, got {reply['type']!r}")
        exchanges.append(
            Exchange(t1_ns, field_of(reply, "t2_ns", int), field_of(reply, "t3_ns", int), t4_ns)
        )
    return estimate_offset(exchanges)


def clock_record(batches: list[tuple[str, OffsetEstimate]]) -> tuple[ClockRecord, ClockModel]:
    """``session.json``'s ``clock`` (the fit and each batch; the session adds each phase's
    window, raw and corrected) and the fitted model."""
    model: ClockModel = fit_clock([estimate for _, estimate in batches])
    fitted = ClockRecord.fit(
        method="four-timestamp exchanges over the agent connection, lowest-delay rounds",
        offset_ns=model.offset_ns, ref_ns=model.ref_ns, drift_ppm=model.drift_ppm, bound_ns=model.bound_ns,
        batches=tuple(
            ClockBatch.new(when=when, at_ns=e.at_ns, offset_ns=e.offset_ns, bound_ns=e.bound_ns,
                           rounds=e.rounds, best_delay_ns=e.best_delay_ns)
            for when, e in batches
        ),
    )
    return fitted, model


OnClock = Callable[[ClockRecord, Callable[[int], int]], None]  # (the fit, SUT ns → director ns)


class RemoteWorkload:
    """One agent connection, driven phase by phase by the director's Session."""

    def __init__(self, channel: Connection, service: ServiceConfig, description: str) -> None:
        self.channel = channel
        self.service = service
        self.description = description
        self.on_clock: OnClock | None = None
        self.batches: list[tuple[str, OffsetEstimate]] = []

    def bind(self, on_clock: OnClock) -> None:
        """Who gets each newer clock fit (the session, which corrects its windows with it)."""
        self.on_clock = on_clock

    async def run(self, phase: str, log_dir: Path) -> Window:
        try:
            await self._align(f"before {phase}")
            await self.channel.send({"type": "run_phase", "phase": phase})
            await self._receive_logs(phase, log_dir)
            await self._align(f"after {phase}")
        except WireError as exc:
            raise WorkloadError(f"SUT agent: {exc} (during the {phase} phase)") from exc
        try:
            window = parse_detail_log(log_dir / DETAIL_LOG)
        except LoadgenLogError as exc:
            raise WorkloadError(f"SUT agent shipped an unusable detail log: {exc}") from exc
        if self.on_clock is not None:
            fitted, model = clock_record(self.batches)
            self.on_clock(fitted, model.to_director_ns)
        return window

    async def _align(self, when: str) -> None:
        self.batches.append((when, await measure_offset(self.channel, self.service.clock_rounds)))

    async def _receive_logs(self, phase: str, log_dir: Path) -> None:
        while True:
            try:
                message = await self.channel.recv()
            except MalformedMessage as exc:
                await self.channel.error("malformed", str(exc))
                continue
            kind = message["type"]
            if kind == "file":
                await self._receive_log(message, log_dir)
            elif kind == "phase_done":
                if not (log_dir / DETAIL_LOG).is_file():
                    raise WorkloadError(f"SUT agent shipped no {DETAIL_LOG} for the {phase} phase")
                return
            elif kind == "phase_failed":
                reason = str(message.get("reason", "no reason given"))[:500]
                raise WorkloadError(f"SUT agent: the {phase} workload failed: {reason}")
            else:
                await self.channel.error(
                    "unexpected", f"unexpected {kind!r} during the {phase} phase"
                )

    async def _receive_log(self, header: dict[str, Any], log_dir: Path) -> None:
        name = header.get("name")
        if name not in LOADGEN_LOG_NAMES:
            text = (
                f"refused file {str(name)[:60]!r}: only {', '.join(LOADGEN_LOG_NAMES)} are accepted"
            )
            await self.channel.error("refused", text)
            raise WireError(text)
        await self.channel.recv_file(header, log_dir / str(name), self.service.max_file_bytes)
        await self.channel.send({"type": "file_ok", "name": name})
