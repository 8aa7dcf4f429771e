"""The "MLCommons checker (current)" column beside our own verdict, per rule of the checker, for
a run we import: what its code says (``reports/mlperf/mlcommons_checker.py``), what our checks that judge the
same thing say, and why the two differ where they do (a bug of the checker that lets a run
through or stops it, a rule only one side has).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.checks import Check
from reports.mlperf.mlcommons_checker import CHECKER_COMMIT, SOURCE_RULES, RuleVerdict, check_run

CHECKER_KEY = "mlcommons_checker"  # report.json's key for this section
TITLE = f"MLCommons checker (current, power-dev check.py {CHECKER_COMMIT[:8]})"
#: The checker's rule → our checks that judge the same thing (none: we do not judge it).
OURS: dict[str, tuple[str, ...]] = {
    "Check PTD commands and replies": ("mlperf_analyzer",),
    "Check time difference": ("clock_offset", "ranging_window_inside_phase", "testing_window_inside_phase",
                              "testing_duration_vs_ranging", "testing_power_vs_ranging"),
    "Check errors and warnings from PTD logs": ("ptd_errors", "ptd_ranging_errors",
                                                "testing_sample_uncertainty"),
}
NOT_JUDGED = {
    SOURCE_RULES[0]: "which program recorded the run, not the measurement",
    SOURCE_RULES[1]: "which program recorded the run, not the measurement",
    "Check UUID": "the descriptors' bookkeeping",
    "Check session name": "the descriptors' bookkeeping",
    "Check client server messages": "the descriptors' bookkeeping",
    "Check results checksum": "we read the files as they are, not against the sha1 the descriptors list",
    "Check PTD configuration": "PTDaemon's launch line (server.json ptd_config)",
    "Check debug is disabled on server-side": "power-dev's server option",
}
#: What a checker failure means where it is the checker's own doing (check.py c4b3ad82).
KNOWN_CAUSES = {
    "Can not find the 4 command starting with 'SR,A'": "its bug: it looks up a 4th SR,A before "
    "comparing (lines 266-272), so a run that set the ranges back with the 3rd fails",
    "unhandled exception: TypeError": "it stops on a ptd_config that is one analyzer's dict, as the "
    "power-dev server of these runs wrote it, not a list of analyzers (lines 708-711)",
    "PTD version": "it accepts PTDaemon 1.11.1 only, whatever version the run's round required",
}
SEVERITY = {"fail": 3, "warning": 2, "unknown": 1, "pass": 0}


@dataclass(frozen=True)
class RuleRow:
    rule: str
    checker: RuleVerdict
    ours: str  # pass / warning / fail / unknown, or "not judged"
    our_checks: tuple[str, ...]
    why: str  # empty where both say the same

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "checker": self.checker.status, "checker_reason": self.checker.reason,
                "checker_lenient": self.checker.lenient, "ours": self.ours,
                "our_checks": list(self.our_checks), "why": self.why}


def checker_rows(run_dir: Path, checks: list[Check]) -> list[RuleRow]:
    by_name = {check.name: check for check in checks}
    return [_row(verdict, [by_name[n] for n in OURS.get(verdict.rule, ()) if n in by_name])
            for verdict in check_run(run_dir)]


def _row(verdict: RuleVerdict, ours: list[Check]) -> RuleRow:
    names = tuple(check.name for check in ours)
    if not ours:
        why = f"{_failure(verdict)}; ours does not judge {NOT_JUDGED.get(verdict.rule, 'this')}"
        return RuleRow(verdict.rule, verdict, "not judged", names, why if verdict.status == "fail" else "")
    worst = max(ours, key=lambda check: SEVERITY[check.status])
    return RuleRow(verdict.rule, verdict, worst.status, names, _why(verdict, worst))


def _why(verdict: RuleVerdict, worst: Check) -> str:
    checker_failed, we_failed = verdict.status == "fail", worst.status == "fail"
    if verdict.lenient and (we_failed or not checker_failed):
        lenient = f"the checker lets it through by its own bug: {verdict.lenient}"
        return lenient if we_failed else f"both pass; {lenient}"
    if checker_failed == we_failed:
        return ""
    if checker_failed:
        return f"{_failure(verdict)}; ours: {worst.status} ({worst.reason})"
    return f"ours fails {worst.name} ({worst.reason}); the checker does not judge it that way"


def _failure(verdict: RuleVerdict) -> str:
    cause = next((cause for text, cause in KNOWN_CAUSES.items() if text in verdict.reason), "")
    return f"the checker fails it ({verdict.reason})" + (f": {cause}" if cause else "")


def overall(rows: list[RuleRow]) -> str:
    """The checker's verdict: INVALID with the failed rules; valid, or valid but for the two
    source rules it alone can judge."""
    failed = [row.rule for row in rows if row.checker.status == "fail"]
    if failed:
        return "INVALID: " + ", ".join(rule.removeprefix("Check ") for rule in failed)
    return "valid (sources unknown)" if any(r.checker.status == "unknown" for r in rows) else "valid"


def section_json(rows: list[RuleRow]) -> dict[str, Any]:
    return {"title": TITLE, "commit": CHECKER_COMMIT, "verdict": overall(rows),
            "rules": [row.to_json() for row in rows]}


def section_lines(section: Any) -> list[str]:
    """The text form (of report.json's ``mlcommons_checker``): one line per rule, the reason
    where the two sides differ."""
    if not isinstance(section, dict):
        return []
    lines = [f"  {section['title']}: {section['verdict']}"]
    for row in section["rules"]:
        ours = row["ours"] + (f" ({', '.join(row['our_checks'])})" if row["our_checks"] else "")
        lines.append(f"    {row['checker']:<7} {row['rule']}; ours: {ours}")
        if row["why"]:
            lines.append(f"            why: {row['why']}")
    return lines
