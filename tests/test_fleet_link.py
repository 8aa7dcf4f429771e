"""The broker link holds each agent's batches until one of its meters is polled
(power_director/fleet/broker_link.py ``take_held``): the messages go through the link's real
``_dispatch``; the broker itself is in the rack, agent and split tests, which poll as a session does."""

from __future__ import annotations

import asyncio
import time

import pytest

from analyzer_drivers.formats.sample import Sample
from power_director.fleet import broker_link
from power_director.fleet.agent_clock import AgentClock
from power_director.fleet.broker_link import BrokerLink
from power_director.fleet.clock import ClockModel
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.wire import BrokerAuth, agent_topic, encode_agent_batch

TOPIC = agent_topic("a1", "samples")


def _linked() -> tuple[BrokerLink, MqttStreamAnalyzer]:
    """A link (never connected: messages handed to ``_dispatch`` here) with one meter of agent a1,
    whose clock is as if measured."""
    link = BrokerLink("127.0.0.1", 1, BrokerAuth(), 1.0)
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a1/psu1")
    clock = link.clocks["a1"] = stream._clock = AgentClock("a1", link.client_id)
    clock.model = ClockModel(ref_ns=0, offset_ns=0, drift_ppm=0.0, bound_ns=0)
    link.meters["a1"] = [stream]
    stream._link = link
    return link, stream


def _batch(seq: int, t_ns: int, watts: float) -> bytes:
    return encode_agent_batch({"psu1": [(seq, Sample(t_ns, watts))]}, {"psu1": 7})


def test_batches_wait_for_a_poll_and_keep_their_arrival_time() -> None:
    asyncio.run(_wait_for_a_poll())


async def _wait_for_a_poll() -> None:
    link, stream = _linked()
    await stream.start("testing", 1000)
    stamped_ns = time.time_ns()
    link._dispatch(TOPIC, _batch(1, stamped_ns, 100.0))
    link._dispatch(TOPIC, _batch(2, stamped_ns + 1, 110.0))
    dispatched_ns = time.time_ns()
    assert stream.received == 0  # held by the link
    await asyncio.sleep(0.05)
    assert [s.watts for s in await stream.poll()] == [100.0, 110.0]
    assert stream.received == 2
    # The latency runs to the message's arrival, not to the poll that took it 50 ms later.
    assert max(stream.latencies_ns) <= dispatched_ns - stamped_ns
    assert await stream.poll() == []  # taken once


def test_batches_nobody_polls_are_taken_after_the_hold_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_link, "HOLD_LIMIT_S", 0.0)
    link, stream = _linked()
    link._dispatch(TOPIC, _batch(1, time.time_ns(), 100.0))
    assert stream.received == 0
    time.sleep(0.001)
    link._dispatch(TOPIC, _batch(2, time.time_ns(), 110.0))  # the first is older than the limit
    assert stream.received == 2
