"""One broker connection for every ``mqtt-stream`` meter a director reads through that broker.

A thousand meters are a thousand subscriptions on one client, not a thousand clients: each agent's
batch topic (``<agent>/samples``: all its meters' samples of an interval, signed once) is
subscribed once, checked once and handed to each of that agent's meters; each agent's clock is
measured once (power_director/fleet/agent_clock.py) for all its meters. The link reconnects on its
own; every attached meter sees the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from typing import Any, ClassVar, Protocol

import aiomqtt

from analyzer_drivers.meters.plug import cancel_and_wait, payload_bytes
from power_director.fleet.agent_clock import AgentClock
from power_director.fleet.sign import ForgedMessage, verify
from power_director.fleet.wire import (
    ROOT,
    BrokerAuth,
    BrokerRefused,
    Row,
    agent_topic,
    decode_agent_batch,
    refusal,
    subscribe,
)
from power_director.fleet.wire import client as mqtt_client

RECONNECT_DELAY_S = 0.5
#: An agent's batches wait for one of its meters to be polled (``take_held``), at most this long:
#: twice the session's poll period for such meters (``AT_SOURCE_POLL_S``, 5 s). Taken a poll's
#: worth at a time, every meter's work runs in one burst instead of a little at each message among
#: the broker client's: about a fifth less (bench/fleet.py, 128 meters at 10 Hz: 2.14× → 1.73×).
HOLD_LIMIT_S = 10.0


class LinkedMeter(Protocol):
    """What the link needs of a stream meter (power_director/fleet/mqtt_stream.py)."""

    agent: str
    meter: str
    keys: dict[str, bytes]
    clock_period_s: float
    outages: list[dict[str, Any]]

    def handle(self, topic: str, payload: bytes) -> None: ...
    def take_batch(self, rows: list[Row], epoch: int | None, arrived_ns: int | None = None,
                   arrived_s: float | None = None) -> None: ...
    def forged_message(self, why: str) -> None: ...
    def clock_fitted(self) -> None: ...


Links = dict[tuple[Any, ...], "BrokerLink"]


class BrokerLink:
    #: Each event loop's links (a loop's id may be reused after it closes: the loop itself is the key).
    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Links]] = (
        weakref.WeakKeyDictionary())

    def __init__(self, host: str, port: int, auth: BrokerAuth, timeout_s: float) -> None:
        self.host, self.port, self.auth, self.timeout_s = host, port, auth, timeout_s
        self.client_id = f"pd-director-{uuid.uuid4().hex[:10]}"
        self.meters: dict[str, list[LinkedMeter]] = {}  # by agent
        self.clocks: dict[str, AgentClock] = {}
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()  # set once: the first connection (reconnects are the loop's)
        self.tried = asyncio.Event()  # a connection attempt ended (connected or refused)
        self.refused: str | None = None  # why the broker refused our login or a subscription
        self._task: asyncio.Task[None] | None = None
        self._clock_tasks: dict[str, asyncio.Task[None]] = {}
        self._keys: dict[str, dict[str, bytes]] = {}  # each agent's meters' signing keys
        self._held: dict[str, list[tuple[str, bytes, int, float]]] = {}  # by agent: (topic, payload, arrived)
        self._key: tuple[Any, ...] = ()

    @classmethod
    def shared(cls, host: str, port: int, auth: BrokerAuth, timeout_s: float) -> BrokerLink:
        """This event loop's link to that broker with those credentials."""
        links = cls._shared.setdefault(asyncio.get_running_loop(), {})
        key = (host, port, auth)
        link = links.get(key)
        if link is None:
            link = links[key] = cls(host, port, auth, timeout_s)
            link._key = key
        return link

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def attach(self, meter: LinkedMeter) -> AgentClock:
        """Start reading for ``meter``; the agent's clock, shared by its meters."""
        agent_meters = self.meters.setdefault(meter.agent, [])
        agent_meters.append(meter)
        self._keys.pop(meter.agent, None)
        clock = self.clocks.get(meter.agent) or AgentClock(meter.agent, self.client_id, meter.clock_period_s)
        self.clocks[meter.agent] = clock
        if self._task is None or self._task.done():  # a loop that died (never: it retries) starts again
            self._task = asyncio.get_running_loop().create_task(self._loop())
        elif self.client is not None:
            with contextlib.suppress(aiomqtt.MqttError, BrokerRefused):
                await self._subscribe(self.client, meter, first=len(agent_meters) == 1)
                self._start_clock(meter.agent, self.client)
        return clock

    async def detach(self, meter: LinkedMeter) -> None:
        agent_meters = self.meters.get(meter.agent, [])
        if meter in agent_meters:
            agent_meters.remove(meter)
        self._keys.pop(meter.agent, None)
        if not agent_meters:
            self.meters.pop(meter.agent, None)
            self._held.pop(meter.agent, None)
            self.clocks.pop(meter.agent, None)
            await cancel_and_wait(self._clock_tasks.pop(meter.agent, None))
        if not self.meters:
            task, self._task = self._task, None
            await cancel_and_wait(task)
            self.client = None
            self._shared.get(asyncio.get_running_loop(), {}).pop(self._key, None)

    async def publish(self, topic: str, payload: str | bytes, qos: int = 0) -> None:
        client = self.client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topic, payload, qos=qos)

    async def _loop(self) -> None:
        lost_ns: int | None = None
        while True:
            try:
                async with mqtt_client(self.host, self.port, self.client_id, self.auth,
                                       keepalive=5, timeout=self.timeout_s) as client:
                    self.client = client  # a meter attaching from now on subscribes itself
                    for agent_meters in list(self.meters.values()):
                        for k, meter in enumerate(list(agent_meters)):
                            await self._subscribe(client, meter, first=k == 0)
                    self.refused = None
                    self.connected.set()
                    self.tried.set()
                    if lost_ns is not None:
                        outage = {"lost_t_ns": lost_ns, "back_t_ns": time.time_ns()}
                        for meter in (m for ms in self.meters.values() for m in ms):
                            meter.outages.append(dict(outage))
                        lost_ns = None
                    await self._serve(client)
            except BrokerRefused as exc:
                self.refused = str(exc)
            except aiomqtt.MqttError as exc:
                self.refused = refusal(exc)
                if self.client is not None and lost_ns is None:
                    lost_ns = time.time_ns()
            except OSError:
                pass  # an unreadable password file: connect() times out and says where
            self.client = None
            self.tried.set()
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _serve(self, client: aiomqtt.Client) -> None:
        for agent in self.meters:
            self._start_clock(agent, client)
        try:
            async for message in client.messages:
                self._dispatch(str(message.topic), payload_bytes(message.payload))
        finally:
            for task in list(self._clock_tasks.values()):
                await cancel_and_wait(task)
            self._clock_tasks.clear()

    def _start_clock(self, agent: str, client: aiomqtt.Client) -> None:
        if agent in self._clock_tasks or agent not in self.clocks:
            return
        meters = self.meters.get(agent, [])

        def fitted() -> None:
            for meter in list(meters):
                meter.clock_fitted()

        clock = self.clocks[agent].loop(client, fitted)
        self._clock_tasks[agent] = asyncio.get_running_loop().create_task(clock)

    async def _subscribe(self, client: aiomqtt.Client, meter: LinkedMeter, first: bool) -> None:
        if first:
            await subscribe(client, agent_topic(meter.agent, "samples"), qos=1)
            await subscribe(client, self.clocks[meter.agent].reply_topic)
        await subscribe(client, agent_topic(meter.agent, meter.meter, "samples"), qos=1)  # one meter's
        await subscribe(client, agent_topic(meter.agent, meter.meter, "info"), qos=1)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        parts = topic.removeprefix(ROOT + "/").split("/")
        meters = self.meters.get(parts[0], []) if len(parts) >= 2 else []
        if not meters:
            return
        if len(parts) == 2 and parts[1] == "samples":
            self._hold(parts[0], topic, payload)
        elif len(parts) == 3 and parts[1] == "clock":
            body = self._authentic(topic, payload, parts[0], meters)
            if body is not None and parts[0] in self.clocks:
                self.clocks[parts[0]].reply(body)
        else:
            for meter in list(meters):
                if len(parts) == 3 and meter.meter == parts[1]:
                    meter.handle(topic, payload)

    def _authentic(self, topic: str, payload: bytes, agent: str, meters: list[LinkedMeter]) -> bytes | None:
        """The message if the agent's key signed it (or no meter of it asks for signing)."""
        keys = self._keys.get(agent)
        if keys is None:
            keys = self._keys[agent] = {k: v for meter in meters for k, v in meter.keys.items()}
        if not keys:
            return payload
        try:
            return verify(keys, topic, payload)
        except ForgedMessage as exc:
            for meter in list(meters):
                meter.forged_message(str(exc))
            return None

    def _hold(self, agent: str, topic: str, payload: bytes) -> None:
        arrived_s = time.monotonic()
        held = self._held.setdefault(agent, [])
        held.append((topic, payload, time.time_ns(), arrived_s))
        if arrived_s - held[0][3] > HOLD_LIMIT_S:  # nobody is polling its meters
            self.take_held(agent)

    def take_held(self, agent: str) -> None:
        """Check, decode and hand to the agent's meters each batch it sent since the last call."""
        held = self._held.pop(agent, None)
        meters = self.meters.get(agent)
        if held and meters:
            for topic, payload, arrived_ns, arrived_s in held:
                self._batch(topic, payload, agent, meters, arrived_ns, arrived_s)

    def _batch(self, topic: str, payload: bytes, agent: str, meters: list[LinkedMeter], arrived_ns: int,
               arrived_s: float) -> None:
        body = self._authentic(topic, payload, agent, meters)
        if body is None:
            return
        try:
            batch = decode_agent_batch(body)
        except ValueError:
            return  # garbage on the topic; the sequence numbers show what is missing
        for meter in list(meters):
            if meter.meter in batch:
                meter.take_batch(*batch[meter.meter], arrived_ns, arrived_s)
