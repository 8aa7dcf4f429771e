"""Hostile Redfish JSON and SNMP varbinds: every parser ends in its documented error type, never a
traceback (the fleet wire and the plugs: tests/test_fuzz_fleet.py).

- Redfish (``analyzer_drivers.meters.redfish_plan.find_plan``): a BMC's resources of any shape —
  DMTF's property names holding any JSON value, links to resources there or not — give a plan or
  a ValueError (the driver's one-line refusal); with a plan, a poll (``RedfishAnalyzer.read``)
  gives a reading and ``NewReadings`` a sample, and the device's identity never fails.
- ``reading_time_ns``: any text is a time or None.
- SNMP (``analyzer_drivers.meters.snmp``): any pysnmp value as a number is an int, None (no such
  object) or an AnalyzerError naming the OID; as text, a string. A poll's integers, any of them
  (negative, huge, missing), through each MIB's points are a sample or none
  (``PduReadings.accept``); any GETNEXT answers give an identity (``identity_of``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from pysnmp.proto import rfc1902, rfc1905

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.redfish import NewReadings, RedfishAnalyzer, reading_time_ns
from analyzer_drivers.meters.redfish_ident import device_identity
from analyzer_drivers.meters.redfish_plan import SCHEMAS, Choice, Plan, find_plan
from analyzer_drivers.meters.snmp import _integer, _text
from analyzer_drivers.meters.snmp_ident import ident_oids, identity_of
from analyzer_drivers.meters.snmp_readings import Gate, PduReadings, Point

FUZZ = settings(max_examples=300, deadline=None)
NUMBERS = st.one_of(st.integers(), st.floats(), st.sampled_from([0, -1, 2**63, 2**64, 1e308, -0.0]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12))

# --- Redfish -----------------------------------------------------------------------------------
URIS = ["/redfish/v1/Chassis", "/c/1", "/c/1/EnvironmentMetrics", "/c/1/PowerSubsystem", "/c/1/Sensors",
        "/c/1/Power", "/ps", "/ps/1", "/ps/1/Metrics", "/s/1", "/s/2", "/m/1", "/pd/1"]
#: The properties the driver reads (DMTF's names: docs/datacenter-redfish.md), and a stranger.
KEYS = ["Chassis", "Members", "EnvironmentMetrics", "PowerWatts", "EnergykWh", "Reading", "DataSourceUri",
        "ReadingTime", "SensingInterval", "Accuracy", "PowerSubsystem", "PowerSupplies", "Status", "State",
        "Metrics", "InputPowerWatts", "Sensors", "ReadingType", "PhysicalContext", "Id", "Power",
        "PowerControl", "PowerConsumedWatts", "PowerMetrics", "IntervalInMin", "MemberId", "@odata.type",
        "@odata.id", "Links", "ManagedBy", "PowerDistribution", "Manufacturer", "Model", "SerialNumber",
        "PartNumber", "FirmwareVersion", "Oem"]
WORDS = ["Power", "Chassis", "EnergykWh", "Absent", "Enabled", "PT1S", "PT0.25S", "P1DT2H", "PTS",
         "2026-12-06T12:00:00Z", "2026-12-06T12:00:00", "0001-01-01T00:00:00+14:00", "#Sensor.v1_7_0.Sensor",
         "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics", "#PowerSubsystem.v1_1_0.PowerSubsystem"]
LINKS = st.sampled_from(URIS).map(lambda uri: {"@odata.id": uri})
LEAVES = st.one_of(SCALARS, LINKS, st.sampled_from(URIS), st.sampled_from(WORDS))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
BODIES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)
def _shaped(**properties: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A resource as DMTF shapes it (each property there or not), sometimes with any JSON
    written over some of its properties, or any body at all."""
    whole, some = st.fixed_dictionaries(properties), st.fixed_dictionaries({}, optional=properties)
    return st.one_of(whole, whole, some, st.builds(lambda a, b: {**a, **b}, whole, BODIES), BODIES)


def _link(uri: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.just({"@odata.id": uri}), st.just({"@odata.id": uri}), VALUES)


KIND = st.one_of(st.sampled_from(["Power", "Power", "EnergykWh", "Temperature"]), LEAVES)
WHERE = st.one_of(st.sampled_from(["Chassis", "Chassis", "PowerSupply"]), LEAVES)
EXCERPT = _shaped(Reading=VALUES, DataSourceUri=st.one_of(st.sampled_from(["/s/1", "/s/2"]), VALUES))
RESOURCES = {
    "/c/1": _shaped(EnvironmentMetrics=_link("/c/1/EnvironmentMetrics"),
                    PowerSubsystem=_link("/c/1/PowerSubsystem"), Sensors=_link("/c/1/Sensors"),
                    Power=_link("/c/1/Power"), Manufacturer=VALUES, Model=VALUES,
                    Links=_shaped(ManagedBy=st.lists(_link("/m/1"), max_size=2),
                                  PowerDistribution=_link("/pd/1"))),
    "/c/1/EnvironmentMetrics": _shaped(PowerWatts=EXCERPT, EnergykWh=EXCERPT, **{"@odata.type": LEAVES}),
    "/c/1/PowerSubsystem": _shaped(PowerSupplies=_link("/ps")),
    "/ps": _shaped(Members=st.lists(_link("/ps/1"), min_size=1, max_size=2)),
    "/ps/1": _shaped(Metrics=_link("/ps/1/Metrics"), Status=_shaped(State=LEAVES), Manufacturer=VALUES),
    "/ps/1/Metrics": _shaped(InputPowerWatts=EXCERPT),
    "/c/1/Sensors": _shaped(Members=st.lists(st.one_of(_link("/s/1"), _link("/s/2")), min_size=1,
                                             max_size=3)),
    "/s/1": _shaped(ReadingType=KIND, PhysicalContext=WHERE, Reading=VALUES, ReadingTime=LEAVES, Id=LEAVES,
                    SensingInterval=LEAVES, Accuracy=VALUES),
    "/s/2": _shaped(ReadingType=KIND, PhysicalContext=WHERE, Reading=VALUES, ReadingTime=LEAVES),
    "/c/1/Power": _shaped(PowerControl=st.one_of(st.lists(_shaped(
        PowerConsumedWatts=VALUES, PhysicalContext=WHERE, MemberId=st.one_of(st.just("0"), LEAVES),
        PowerMetrics=_shaped(IntervalInMin=VALUES)), max_size=3), VALUES)),
    "/m/1": _shaped(FirmwareVersion=VALUES), "/pd/1": _shaped(Manufacturer=VALUES, Model=VALUES),
}
#: A BMC: its service root and chassis collection, then each resource (a link may go nowhere).
TREES = st.fixed_dictionaries(
    {"/redfish/v1/": st.just({"Chassis": {"@odata.id": "/redfish/v1/Chassis"}}),
     "/redfish/v1/Chassis": st.just({"Members": [{"@odata.id": "/c/1"}]}), **RESOURCES})
CHOICES = st.builds(Choice, st.sampled_from(SCHEMAS), st.sampled_from(["", "", "1", "2"]),
                    st.sampled_from(["", "", "1"]), st.sampled_from(["auto", "auto", "sum", "0", "x"]),
                    st.sampled_from(["auto", "auto", "power", "energy"]))


async def _plan(tree: dict[str, dict[str, Any]], choice: Choice) -> tuple[Plan, dict[str, Any]] | None:
    async def get(uri: str) -> dict[str, Any] | None:
        return tree.get(uri)

    try:
        return await find_plan(get, choice, "redfish-bmc")
    except ValueError as exc:
        assert str(exc).startswith("redfish-bmc: ") and "\n" not in str(exc)
        return None


async def _poll(tree: dict[str, dict[str, Any]], plan: Plan, chassis: dict[str, Any]) -> Sample:
    async def get(uri: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        return tree.get(uri)

    bmc = RedfishAnalyzer("http://127.0.0.1:1", auth="none")
    bmc.plan, bmc._get = plan, get  # type: ignore[method-assign]  # the resources, not HTTP
    await device_identity(get, plan, chassis)
    tracker = NewReadings()
    samples = [tracker.accept(t_ns, await bmc.read()) for t_ns in (1_000_000_000, 2_000_000_000)]
    return samples[-1]


@settings(max_examples=400, deadline=None)  # a plan in about 1 of 5: each schema reached
@given(TREES, CHOICES, st.fixed_dictionaries({}, optional=RESOURCES))
def test_any_bmc_gives_a_plan_or_one_line_and_every_poll_a_sample(
        tree: dict[str, dict[str, Any]], choice: Choice, changed: dict[str, dict[str, Any]]) -> None:
    found = asyncio.run(_plan(tree, choice))
    event("no plan" if found is None else f"a {found[0].schema} plan")
    if found is None:
        return
    plan, chassis = found
    assert plan.power and plan.schema in SCHEMAS
    sample = asyncio.run(_poll({**tree, **changed}, plan, chassis))  # the BMC's answers change later
    assert isinstance(sample.watts, float)


@FUZZ
@given(st.one_of(st.text(max_size=40), st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                 SCALARS))
def test_any_reading_time_is_a_time_or_none(text: Any) -> None:
    stamp = reading_time_ns(text)
    assert stamp is None or isinstance(stamp, int)


# --- SNMP --------------------------------------------------------------------------------------
SNMP_VALUES = st.one_of(
    st.integers(-2**31, 2**31 - 1).map(rfc1902.Integer32),
    st.integers(0, 2**32 - 1).map(rfc1902.Counter32),
    st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
    st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
    st.integers(0, 2**32 - 1).map(rfc1902.TimeTicks),
    st.binary(max_size=20).map(rfc1902.OctetString),
    st.binary(min_size=4, max_size=4).map(rfc1902.IpAddress),
    st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=8).map(lambda arcs: rfc1902.ObjectName(
        [arcs[0] % 3, arcs[1] % 40, *arcs[2:]])),
    st.sampled_from([rfc1905.NoSuchObject(""), rfc1905.NoSuchInstance(""), rfc1905.EndOfMibView("")]),
)


@FUZZ
@given(SNMP_VALUES)
def test_any_varbind_is_a_number_none_or_one_line(value: Any) -> None:
    try:
        number = _integer("pdu", "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", value)
    except AnalyzerError as exc:
        assert "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1" in str(exc) and "\n" not in str(exc)
    else:
        assert number is None or isinstance(number, int)
    assert isinstance(_text(value), str)


#: Points as the driver builds them (``SnmpPduAnalyzer._point``): the MIB tables' units (W or
#: tenths of W; Wh or hundredths of kWh; Raritan's and ENTITY-SENSOR's decimal digits), counters
#: wrapping at 2^31 or 2^32, gates that allow only some values or refuse one, the agent's stamps.
POINTS = st.lists(st.builds(
    Point, st.just("1"), st.just("power"), st.sampled_from([None, "energy"]),
    st.sampled_from([1.0, 10.0, 0.1, 0.001, 1e-4]), st.sampled_from([3600.0, 360_000.0, 36.0, 0.36]),
    st.sampled_from([2**31, 2**32]),
    st.lists(st.builds(Gate, st.just("gate"), st.sampled_from([None, frozenset({1})]),
                       st.sampled_from([frozenset(), frozenset({-1})])), max_size=2).map(tuple),
    st.sampled_from([None, "stamp"])), min_size=1, max_size=3)
INTS = st.one_of(st.none(), st.integers(-2**40, 2**64), st.sampled_from([0, -1, 2**32 - 1, 2**31]))


@FUZZ
@given(POINTS, st.booleans(), st.data())
def test_any_poll_through_any_points_is_a_sample_or_none(points: list[Point], use_energy: bool,
                                                         data: st.DataObject) -> None:
    readings = PduReadings(points, use_energy)
    width = len(PduReadings.oids(points))
    for t_ns in range(1, 6):
        values = data.draw(st.lists(INTS, min_size=width, max_size=width))
        sample = readings.accept(t_ns * 1_000_000_000, values)
        assert sample is None or isinstance(sample.watts, float)


ANSWERED = st.one_of(st.sampled_from(["", "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.4.1.318.1",
                                      "1.3.6.1.2.1.47.1.1.1.1.5.1", "1.3.6.1.2.1.47.1.1.1.1.13.1"]),
                     st.text(alphabet="0123456789.", max_size=30))


@FUZZ
@given(st.sampled_from(["apc", "sentry3", "sentry4", "raritan", "ups", "entity", "nothing"]), st.data())
def test_any_identity_answers_give_an_identity(family: str, data: st.DataObject) -> None:
    oids = ident_oids(family)
    answers = {oid: (data.draw(st.one_of(st.just(oid + ".0"), st.just(oid + ".1"), ANSWERED)),
                     data.draw(st.text(max_size=20))) for oid in oids}
    identity, said = identity_of(family, answers)
    assert all(isinstance(v, str) for v in (identity.manufacturer, identity.model, identity.serial,
                                            identity.firmware, *said.values()))
