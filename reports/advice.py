"""Before a run: can this meter measure the average power to the uncertainty wanted?

The result's relative uncertainty is combined root-sum-square from three terms:

- the meter's stated accuracy (systematic: it does not average away);
- its resolution: a reading is rounded to ``resolution_watts``; over N independent readings
  the mean's rounding error is about ``resolution / 2 / watts / √N``;
- its averaging window: a BMC that averages over ``A`` seconds smears each edge of the
  LoadGen window by ``A/2``; as a fraction of the run, at most ``A / duration``.

A certified analyzer is judged by the range advice after ranging (≤ 1 % per sample), a
software counter does not measure wall power at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analyzer_drivers.meters.specs import PLUGS

#: Resolution of the readings by meter kind (W). Redfish ``PowerConsumedWatts`` and the PDU
#: MIBs here report whole watts (NUT raritan-px2-mib.c quotes "activePower = Gauge32: 10 (W)";
#: Sentry4-MIB st4OutletActivePower UNITS "Watts"); a BMC may round coarser (inferred).
RESOLUTION_WATTS = {"redfish": 1.0, "snmp": 1.0, "ipmi-dcmi": 1.0,  # DCMI: "%u Watts" (ipmitool, FreeIPMI)
                    **{k: v.resolution_watts for k, v in PLUGS.items()}}
CERTIFIED_KINDS = ("ptd", "yokogawa")
NOT_WALL_POWER = ("rapl", "nvml")


@dataclass(frozen=True, slots=True)
class MeterFacts:
    kind: str  # the config type
    accuracy: float | None  # fraction of reading; None: the meter states none
    resolution_watts: float
    averaging_s: float  # the meter's averaging window (0: none known)
    interval_s: float  # how often it is sampled
    outlets: int = 1  # readings summed per sample, each rounded


@dataclass(frozen=True, slots=True)
class Advice:
    can_meet: bool | None  # None: cannot tell (no stated accuracy)
    relative: float | None
    terms: dict[str, float] = field(default_factory=dict)
    lines: tuple[str, ...] = ()


def facts_for(
    kind: str, averaging_s: float, interval_s: float, accuracy: float | None = None, outlets: int = 1
) -> MeterFacts:
    """What a meter of ``kind`` brings; a plug's accuracy from its spec unless one is given."""
    if accuracy is None and kind in PLUGS:
        accuracy = PLUGS[kind].reading_accuracy
    return MeterFacts(kind, accuracy, RESOLUTION_WATTS.get(kind, 0.0), averaging_s, interval_s, outlets)


def advise(facts: MeterFacts, watts: float, duration_s: float, target: float) -> Advice:
    """Whether ``facts``' meter measures an average of ``watts`` over ``duration_s`` within
    ``target`` (a fraction), with the terms and a line per finding."""
    if facts.kind in NOT_WALL_POWER:
        return Advice(
            False,
            None,
            lines=(
                f"{facts.kind} counts a component's energy, not wall power: "
                "use it beside a wall meter, not for the result",
            ),
        )
    if facts.kind in CERTIFIED_KINDS:
        return Advice(
            True,
            None,
            lines=(
                "a SPEC-accepted analyzer: ranging picks ranges for ≤ 1 % per sample "
                "(the range advice warns before testing if it cannot)",
            ),
        )
    samples = max(1.0, duration_s / max(facts.interval_s, facts.averaging_s, 1e-9))
    terms = {
        "resolution": facts.resolution_watts * math.sqrt(facts.outlets) / 2 / watts / math.sqrt(samples),
        "averaging_edges": min(1.0, facts.averaging_s / duration_s),
    }
    lines = [
        f"resolution {facts.resolution_watts:g} W over ~{samples:.0f} independent readings: "
        f"±{100 * terms['resolution']:.3f} %",
        f"averaging window {facts.averaging_s:g} s against a {duration_s:g} s run: "
        f"up to ±{100 * terms['averaging_edges']:.2f} % at the window's edges"
        if facts.averaging_s else "averaging window: the meter states none (no term for the window's edges)",
    ]
    if facts.averaging_s > facts.interval_s:
        lines.append(
            f"the meter averages over {facts.averaging_s:g} s but is sampled every "
            f"{facts.interval_s:g} s: consecutive samples are not independent readings"
        )
    if facts.accuracy is None:
        lines.append(
            "the meter states no accuracy: run it beside a certified analyzer once "
            '(role = "beside") and apply the saved calibration'
        )
        return Advice(None, None, terms, tuple(lines))
    terms["accuracy"] = facts.accuracy
    lines.insert(0, f"stated accuracy ±{100 * facts.accuracy:g} % of reading")
    relative = math.sqrt(sum(t * t for t in terms.values()))
    verdict = "meets" if relative <= target else "cannot meet"
    lines.append(f"{verdict} ±{100 * target:g} %: about ±{100 * relative:.2f} % on the average")
    return Advice(relative <= target, relative, terms, tuple(lines))
