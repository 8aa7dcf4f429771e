"""A meter agent's clock against ours: NTP-style exchanges over the broker (power_director/fleet/clock.py).

The director publishes ``{"id", "reply"}`` on the agent's ``clock`` topic; the agent answers on
``reply`` with ``{"id", "t2", "t3"}`` on its clock (power_director/fleet/wire.py). Every
``period_s`` a batch of exchanges gives one offset estimate (every ``SETTLED_PERIODS`` periods once
``SETTLED_ESTIMATES`` are fitted: a rack of agents' exchanges cost a director more than their
samples); the last few are fitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable

import aiomqtt

from power_director.fleet.clock import (
    ClockError,
    ClockModel,
    Exchange,
    OffsetEstimate,
    estimate_offset,
    fit_clock,
)
from power_director.fleet.wire import agent_topic

CLOCK_ROUNDS = 8
CLOCK_PERIOD_S = 10.0
CLOCK_REPLY_TIMEOUT_S = 1.0
KEPT_ESTIMATES = 12
SETTLED_ESTIMATES = 3
SETTLED_PERIODS = 3


class AgentClock:
    """One agent's clock as one director client measures it; ``model`` once fitted."""

    def __init__(self, agent: str, client_id: str, period_s: float = CLOCK_PERIOD_S) -> None:
        self.agent = agent
        self.client_id = client_id
        self.period_s = period_s
        self.reply_topic = agent_topic(agent, "clock", client_id)
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[int, asyncio.Future[tuple[int, int, int]]]] = {}
        self.estimates: deque[OffsetEstimate] = deque(maxlen=KEPT_ESTIMATES)
        self.model: ClockModel | None = None
        self.fitted = asyncio.Event()

    async def loop(self, client: aiomqtt.Client, on_fit: Callable[[], None]) -> None:
        while True:
            exchanges = [e for e in [await self._exchange(client) for _ in range(CLOCK_ROUNDS)] if e]
            with contextlib.suppress(ClockError):
                self.estimates.append(estimate_offset(exchanges))
                self.model = fit_clock(list(self.estimates))
                self.fitted.set()
                on_fit()
            settled = len(self.estimates) >= SETTLED_ESTIMATES
            await asyncio.sleep(self.period_s * (SETTLED_PERIODS if settled else 1) if self.model else 0.2)

    async def _exchange(self, client: aiomqtt.Client) -> Exchange | None:
        exchange_id = next(self._ids)
        future: asyncio.Future[tuple[int, int, int]] = asyncio.get_running_loop().create_future()
        t1_ns = time.time_ns()
        self._waiting[exchange_id] = (t1_ns, future)
        try:
            await client.publish(agent_topic(self.agent, "clock"),
                                 json.dumps({"id": exchange_id, "reply": self.reply_topic}))
            t2_ns, t3_ns, t4_ns = await asyncio.wait_for(future, CLOCK_REPLY_TIMEOUT_S)
            return Exchange(t1_ns, t2_ns, t3_ns, t4_ns)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiting.pop(exchange_id, None)

    def reply(self, payload: bytes) -> None:
        t4_ns = time.time_ns()
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            reply = json.loads(payload)
            waiting = self._waiting.get(reply["id"])
            if waiting is not None and not waiting[1].done():
                waiting[1].set_result((int(reply["t2"]), int(reply["t3"]), t4_ns))
