"""Hostile fleet and smart-plug messages: every parser ends in its documented error type (or takes
the message as a bad one and counts it), never a traceback.

- ``power_director.fleet.wire.decode_batch``: ValueError with the reason.
- ``power_director.fleet.sign.verify``: ForgedMessage.
- ``decode_agent_batch``: ValueError.
- A director's broker link dispatching any message on an agent's topics (its batch, a meter's own
  samples and info, clock replies) to a stream meter, with and without signing keys: nothing
  raised; garbage is ignored or counted as forged.
- Tasmota / Shelly Gen2 / Shelly Gen1 ``handle`` on their own topics: nothing raised; a reading or
  a bad message.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer_drivers.meters.plug_shelly import ShellyGen1Plug, ShellyPlug
from analyzer_drivers.meters.plug_tasmota import TasmotaPlug
from power_director.fleet.agent_clock import AgentClock
from power_director.fleet.broker_link import BrokerLink
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.sign import ForgedMessage, sign, verify
from power_director.fleet.wire import BrokerAuth, agent_topic, decode_agent_batch, decode_batch

FUZZ = settings(max_examples=300, deadline=None)
NUMBERS = st.one_of(st.integers(), st.floats(), st.sampled_from([0, -1, 2**63, 2**64, 1e308, -0.0]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=10)
ROWS = st.lists(st.one_of(st.lists(st.one_of(NUMBERS, st.none()), min_size=6, max_size=6), JSON_VALUES),
                max_size=5)
EPOCHS = st.one_of(NUMBERS, st.just("-"), SCALARS)  # "-": no epoch key
EXTRA_KEYS = st.dictionaries(st.text(max_size=5), SCALARS, max_size=2)
SAMPLES = st.builds(lambda rows, epoch, extra: {"samples": rows, **({"epoch": epoch} if epoch != "-" else {}),
                                                **extra}, ROWS, EPOCHS, EXTRA_KEYS)
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    SAMPLES.map(lambda v: json.dumps(v).encode()),
)
KEY = b"k" * 64


def _signed_or_not(draw: Any, topic: str, payloads: st.SearchStrategy[bytes] = PAYLOADS) -> bytes:
    payload: bytes = draw(payloads)
    if payload.startswith(b"{") and payload.endswith(b"}") and draw(st.booleans()):
        key_id, key = draw(st.sampled_from(["a1", "other"])), draw(st.sampled_from([KEY, b"x" * 64]))
        return sign(key_id, key, topic, payload)
    return payload


@FUZZ
@given(PAYLOADS)
def test_decode_batch(payload: bytes) -> None:
    try:
        rows, epoch = decode_batch(payload)
    except ValueError:
        return
    assert epoch is None or type(epoch) is int
    assert all(type(row[0]) is int and row[0] >= 1 and type(row[1]) is int for row in rows)


@FUZZ
@given(st.data())
def test_verify(data: st.DataObject) -> None:
    topic = agent_topic("a1", "psu1", "samples")
    payload = _signed_or_not(data.draw, topic)
    try:
        body = verify({"a1": KEY}, topic, payload)
    except ForgedMessage:
        return
    # Only what the right key signed gets through, whole (what it says is decode's to judge).
    assert payload == sign("a1", KEY, topic, body[: body.rindex(b',"key":')] + b"}")


METER_NAMES = st.sampled_from(["psu1", "psu2", ""])
BATCHES = st.builds(lambda meters, epochs: {"meters": meters, "epochs": epochs},
                    st.one_of(st.dictionaries(METER_NAMES, ROWS, max_size=2), SCALARS),
                    st.one_of(st.dictionaries(METER_NAMES, EPOCHS, max_size=2), SCALARS))


@FUZZ
@given(st.one_of(PAYLOADS, BATCHES.map(lambda v: json.dumps(v).encode())))
def test_decode_agent_batch(payload: bytes) -> None:
    try:
        batch = decode_agent_batch(payload)
    except ValueError:
        return
    assert all(epoch is None or type(epoch) is int for _, epoch in batch.values())


@FUZZ
@given(st.data(), st.booleans())
def test_broker_link_dispatches_any_message(data: st.DataObject, signing: bool) -> None:
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a1/psu1", keys={"a1": KEY} if signing else None)
    link = BrokerLink("127.0.0.1", 1, BrokerAuth(), 1.0)  # not connected: messages handed in here
    link.meters["a1"] = [stream]
    link.clocks["a1"] = AgentClock("a1", link.client_id)
    topics = [agent_topic("a1", "samples"), agent_topic("a1", "psu1", "samples"),
              agent_topic("a1", "psu1", "info"), link.clocks["a1"].reply_topic,
              agent_topic("a1", "other", "samples"), "power-director/fleet/a1"]
    for _ in range(3):
        topic = data.draw(st.sampled_from(topics))
        payloads = st.one_of(PAYLOADS, BATCHES.map(lambda v: json.dumps(v).encode()))
        link._dispatch(topic, _signed_or_not(data.draw, topic, payloads))
        if data.draw(st.booleans()):  # a poll of one of the agent's meters takes what the link holds
            link.take_held("a1")
    link.take_held("a1")
    assert stream.forged == sum(stream.forged_why.values())
    assert stream.forged == 0 or signing or "older epoch" in stream.forged_why


@FUZZ
@given(st.data())
def test_plugs_handle_any_message(data: st.DataObject) -> None:
    tasmota = TasmotaPlug("127.0.0.1:1", "plug", channel=data.draw(st.sampled_from(["sum", "1", "2"])))
    component = data.draw(st.sampled_from(["switch:0", "em:0", "em1:0"]))
    gen2 = ShellyPlug("127.0.0.1:1", "shelly", component=component)
    gen1 = ShellyGen1Plug("127.0.0.1:1", "shelly1", component="relay:0")
    energy = st.dictionaries(st.sampled_from(["Power", "Voltage", "Current", "Factor"]),
                             st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=4)
    status = st.dictionaries(st.sampled_from(["apower", "voltage", "current", "pf", "act_power",
                                              "total_act_power", "a_voltage", "total_current"]), SCALARS)
    shaped = st.one_of(
        energy.map(lambda e: {"ENERGY": e}), energy.map(lambda e: {"StatusSNS": {"ENERGY": e}}),
        status.map(lambda s: {"method": "NotifyStatus", "params": {"switch:0": s, "em:0": s, "em1:0": s}}),
        status.map(lambda s: {"id": 1, "result": s}), JSON_VALUES,
    ).map(lambda v: json.dumps(v).encode())
    for plug, topics in (
        (tasmota, [tasmota.at("tele", "SENSOR"), tasmota.at("stat", "STATUS10"),
                   tasmota.at("stat", "STATUS2"), tasmota.at("tele", "LWT")]),
        (gen2, [f"{gen2.topic}/events/rpc", f"{gen2.client_id}/rpc", f"{gen2.topic}/online"]),
        (gen1, [gen1.power_topic, "shellies/announce", "shellies/shelly1/online"]),
    ):
        for _ in range(2):
            payload = data.draw(st.one_of(shaped, st.binary(max_size=80)))
            plug.handle(data.draw(st.sampled_from(topics)), payload, 1)
