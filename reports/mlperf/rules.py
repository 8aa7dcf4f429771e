"""MLPerf Power's rule sets by round, and the power metric each round's checker computed.

Sources (read, never copied):
- the submission checker of each round, mlcommons/inference ``tools/submission/``:
  ``submission-checker.py`` at 0ca20e70 (2022-03-31, the v2.0 round: ``has_query_count_in_log``,
  ``uses_legacy_multistream``, ``has_power_utc_timestamps``), ``submission_checker.py`` at
  192f81b3 (2023-06-13: only samples with watts > 0 are averaged) and today's
  ``submission_checker/checks/power_check.py`` at b66003e10e2db4b8c36a448b0545ec90fcc6e9e9;
- the Power WG's ``compliance/check.py`` in mlcommons/power-dev: 827ead7 (2021-02-26, ranging and
  testing durations within 5 %), 39c0190 (2023-03-08, testing at most 50 % shorter), 0d72c26
  (2023-04-12, PTDaemon's "Uncertainty … above 1.00 % limit" in testing is an error), 992e4c2
  (2023-05-27, testing power at most 5 % below ranging; the 50 % rule only warns), as of
  c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from loadgen_bridge.detail_log import legacy_query_count
from reports.report_json import JsonDict

CURRENT = "current"
# MLPerf Training's meter qualification (reports.mlperf.qualify): a candidate within x % of a
# SPEC-accepted meter over windows of a minute, five of them, in each load condition.
RULE_WINDOW_S = 60.0
RULE_WINDOWS = 5
RULE_TOLERANCE_PCT = 5.0
SOURCE_COMMIT = "mlcommons/inference b66003e10e2db4b8c36a448b0545ec90fcc6e9e9"


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    utc_stamps: bool  # False: LoadGen and spl.txt stamps are local time, shifted by `timezone`
    query_count_in_log: bool  # False: queries = QPS x duration (SingleStream), generated (MultiStream)
    legacy_multistream: bool  # False: a MultiStream result run by a SingleStream LoadGen counts x8
    positive_watts_only: bool  # samples <= 0 (PTDaemon's -1) are left out of the average
    power_drop_rule: bool  # testing may not average more than 5 % below ranging
    duration_rule: str  # "5%": |ranging - testing| / max < 5 %; "50%": testing >50 % shorter warns
    uncertainty_error: bool  # PTDaemon's per-sample "above 1.00 % limit" in testing fails

    def as_dict(self) -> JsonDict:
        return asdict(self)


def _rules(name: str, era: int) -> RuleSet:
    """era: 0 = v1.0, 1 = v1.1, 2 = v2.0..v3.0, 3 = v3.1 and later."""
    return RuleSet(
        name=name, utc_stamps=era >= 1, query_count_in_log=era >= 2, legacy_multistream=era <= 1,
        positive_watts_only=era >= 3, power_drop_rule=era >= 3,
        duration_rule="50%" if era >= 3 else "5%", uncertainty_error=era >= 3,
    )


RULESETS: dict[str, RuleSet] = {
    name: _rules(name, era)
    for name, era in (
        ("v1.0", 0), ("v1.1", 1), ("v2.0", 2), ("v2.1", 2), ("v3.0", 2), ("v3.1", 3),
        ("v4.0", 3), ("v4.1", 3), ("v5.0", 3), ("v5.1", 3), (CURRENT, 3),
    )
}


def rules_named(name: str) -> RuleSet:
    try:
        return RULESETS[name]
    except KeyError:
        raise ValueError(f"unknown rule set {name!r} (one of {', '.join(RULESETS)})") from None


def rules_table() -> str:
    """One line per rule set, for ``--help`` and the README."""
    lines = []
    for rules in RULESETS.values():
        lines.append(
            f"{rules.name:8} stamps {'UTC' if rules.utc_stamps else 'local+timezone'}, "
            f"queries {'result_query_count' if rules.query_count_in_log else 'QPS x duration'}, "
            f"MultiStream-by-SingleStream {'x1' if rules.legacy_multistream else 'x8'}, "
            f"{'watts > 0 only' if rules.positive_watts_only else 'all samples'}, "
            f"-5 % power rule {'yes' if rules.power_drop_rule else 'no'}, duration rule "
            f"{rules.duration_rule}, >1 % uncertainty {'fails' if rules.uncertainty_error else 'ignored'}"
        )
    lines.append("sources: mlcommons/inference tools/submission history (0ca20e70, 192f81b3, "
                 "b66003e1) and mlcommons/power-dev compliance/check.py history (827ead7, 39c0190, "
                 "0d72c26, 992e4c2; c4b3ad82)")
    return "\n".join(lines)


SCENARIOS = {"singlestream": "SingleStream", "multistream": "MultiStream", "offline": "Offline",
             "server": "Server", "interactive": "Interactive"}
PER_QUERY = ("SingleStream", "MultiStream")


@dataclass(frozen=True, slots=True)
class QueryCount:
    queries: float | None
    source: str  # how it was found: result_query_count, QPS x duration, generated_query_count


def query_count(values: dict[str, Any], scenario: str, duration_s: float, rules: RuleSet) -> QueryCount:
    """The query count a round's checker divides by (``mlperf_log`` values of the detail log)."""
    if not rules.query_count_in_log:
        return QueryCount(*legacy_query_count(values, scenario, duration_s))
    count = values.get("result_query_count")
    if isinstance(count, (int, float)):
        return QueryCount(float(int(count)), "result_query_count")
    return QueryCount(None, "no result_query_count in the detail log (LoadGen before v2.0)")


@dataclass(frozen=True, slots=True)
class CheckerMetric:
    rules: str
    value: float | None
    unit: str
    scenario: str  # the results directory's (else LoadGen's)
    avg_watts: float | None
    samples: int
    queries: float | None
    query_source: str
    multiplier: int
    note: str

    def as_dict(self) -> JsonDict:
        return asdict(self)


def checker_metric(
    avg_watts: float | None, samples: int, duration_s: float, scenario_dir: str, loadgen_scenario: str,
    queries: QueryCount, rules: RuleSet,
) -> CheckerMetric:
    """The number a round's submission checker reports: W, or mJ/query (v1.x-v2.x printed J)."""
    scenario = SCENARIOS.get(scenario_dir.lower(), scenario_dir) if scenario_dir else loadgen_scenario
    if scenario not in PER_QUERY:
        return CheckerMetric(rules.name, avg_watts, "W", scenario, avg_watts, samples, None, "", 1, "")
    multiplier = 8 if (scenario == "MultiStream" and loadgen_scenario == "SingleStream"
                       and not rules.legacy_multistream) else 1
    note = ("a MultiStream result run by a SingleStream LoadGen: x8 samples per query"
            if multiplier == 8 else "")
    value = None
    if avg_watts is not None and queries.queries:
        value = avg_watts * duration_s * multiplier * 1000 / queries.queries
    elif queries.queries is None:
        note = queries.source
    return CheckerMetric(rules.name, value, "mJ/query", scenario, avg_watts, samples, queries.queries,
                         queries.source, multiplier, note)
