"""Import mode: the report of a power run we did not record (a published MLPerf submission).

Reads, never writes, the run: LoadGen's logs and ``spl.txt`` of ``ranging/`` and ``run_1/``, and
what ``power/`` keeps (phases, timezone, PTDaemon's commands, warnings and errors, the analyzer,
its ranges). The results directory's scenario wins over LoadGen's, as in MLCommons' submission
checker (``tools/submission/submission_checker/checks/power_check.py``, mlcommons/inference
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9). Our own sessions are told by their journal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import REPORT_JSON, events_path
from analyzer_drivers.formats.session_meta import (
    AnalyzerRecord,
    PhaseRecord,
    RangeRecord,
    SessionMeta,
)
from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.formats.window import Window
from analyzer_drivers.meters.accuracy import CREST_FACTOR_KEY, ELEMENTS_KEY
from loadgen_bridge.detail_log import DETAIL_LOG
from reports import checks
from reports.build.session_report import ImportHooks, build_report
from reports.checks import Check
from reports.mlperf.checker_column import CHECKER_KEY, checker_rows, section_json
from reports.mlperf.evidence import (
    Evidence,
    EvidenceError,
    above_limit,
    is_ranging_error,
    is_unknown_uncertainty,
    read_evidence,
)
from reports.mlperf.local_time import LocalOffset, local_offset_s
from reports.mlperf.rules import (
    CURRENT,
    SCENARIOS,
    CheckerMetric,
    RuleSet,
    checker_metric,
    query_count,
    rules_named,
)
from reports.model.report import SessionReport
from reports.phase_report import PhaseReport
from reports.render.html import write_html_report
from reports.report_json import JsonDict, json_dict, json_list
from reports.spl import PowerSeries

MAX_PHASE_CLOCK_DIFF_S = 0.8  # check.py's TIME_DELTA_TOLERANCE between client and server phases


class NotAPowerRun(ReportError):
    """The directory holds no MLPerf power run."""


def is_own_session(run_dir: Path) -> bool:
    """A session of ours: it has the journal the director writes."""
    return events_path(run_dir).is_file()


def require_power_run(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise NotAPowerRun(f"{run_dir} is not a directory")
    missing = [f"{sub}/{name}" for sub in ("ranging", "run_1") for name in (DETAIL_LOG, "spl.txt")
               if not (run_dir / sub / name).is_file()]
    if missing:
        raise NotAPowerRun(f"{run_dir} is not a power run (no {', '.join(missing)}); nothing written")


def scenario_from_path(run_dir: Path) -> str | None:
    """``…/<scenario>/performance``: the results directory's scenario, as the checker takes it."""
    resolved = run_dir.resolve()
    if resolved.name == "performance" and resolved.parent.name.lower() in SCENARIOS:
        return resolved.parent.name
    return None


@dataclass
class _Raw:
    """Each phase's window and series as the files have them, before any adjustment."""

    windows: dict[str, Window] = field(default_factory=dict)
    series: dict[str, PowerSeries] = field(default_factory=dict)
    shifts_s: dict[str, tuple[int, int]] = field(default_factory=dict)  # (LoadGen, spl.txt)


@dataclass
class ImportedRun:
    run_dir: Path
    evidence: Evidence
    rules: RuleSet
    scenario_dir: str | None
    raw: _Raw = field(default_factory=_Raw)
    notes: list[str] = field(default_factory=list)
    phases: list[PhaseReport] = field(default_factory=list)  # ranging, testing, once built

    def adjust(self, phase: str, window: Window, series: PowerSeries) -> tuple[Window, PowerSeries]:
        self.raw.windows[phase], self.raw.series[phase] = window, series
        phases = self.evidence.phases("client").get(phase, [])
        window_shift = local_offset_s(window.begin_ns, phases, self.evidence.client_timezone_s)
        first = int(series.t_ns[0]) if len(series) else window.begin_ns
        spl_shift = local_offset_s(
            first, self.evidence.phases("server").get(phase, []), self.evidence.server_timezone_s)
        self.raw.shifts_s[phase] = (window_shift, spl_shift)
        if window_shift or spl_shift:
            window = dataclasses.replace(window, begin_ns=window.begin_ns + window_shift * 10**9,
                                         end_ns=window.end_ns + window_shift * 10**9)
            series = dataclasses.replace(series, t_ns=series.t_ns + spl_shift * 10**9)
        return self._scenario(window), series

    def _scenario(self, window: Window) -> Window:
        """The results directory's scenario; a MultiStream result run by a SingleStream LoadGen
        counts 8 samples a query (the checker's ``samples_per_query = 8``)."""
        fixed = SCENARIOS.get((self.scenario_dir or "").lower())
        if fixed is None or fixed == window.scenario:
            return window
        if fixed == "MultiStream" and window.scenario == "SingleStream" and window.query_count:
            return dataclasses.replace(
                window, scenario=fixed, samples_per_query=8, query_count=window.query_count / 8,
                query_source=f"{window.query_source} / 8 (SingleStream queries, 8 samples each)")
        return dataclasses.replace(window, scenario=fixed)

    def meta(self) -> SessionMeta:
        """What a journal would have told: phase times, analyzer, interval, testing ranges."""
        evidence = self.evidence
        single = (evidence.channels() or [1]) == [1] or evidence.channels() is None
        fields = evidence.identify().split(",")
        version = next((f.split("=", 1)[1] for f in fields if f.startswith("version=")), "")
        analyzer = AnalyzerRecord.new(model=evidence.analyzer_model() if single else "",
                                      name=fields[0], identify=evidence.identify(), version=version)
        # What the meter said to PTDaemon's :CFAC?, and its one element (docs/uncertainty.md).
        crest_factor = evidence.ptd_log.crest_factor if evidence.ptd_log else None
        facts = {CREST_FACTOR_KEY: crest_factor} if crest_factor else {}
        analyzer = analyzer.updated(extra={**facts, ELEMENTS_KEY: "1"}) if single else analyzer
        ranges = evidence.testing_ranges() if single else {}
        return SessionMeta.new(
            session_name=self.run_dir.resolve().name,
            phases={phase: PhaseRecord.from_json({"times": times}, f"client.json: phases.{phase}")
                    for phase, times in evidence.phases("client").items()},
            analyzer=analyzer,
            interval_ms=_interval_ms(evidence),
            ranges={"testing": RangeRecord.new(**ranges)},
        )

    def checks(self, ranging: PhaseReport, testing: PhaseReport) -> list[Check]:
        self.phases = [ranging, testing]
        return [
            self._clock_check(),
            Check("analyzer_reconnects", "unknown", "an imported run keeps no record of the analyzer's "
                  "connection (reconnects, restarts)"),
            self._uncertainty_check(testing),
            *self._overload_check(testing),
            *self._ptd_error_checks(),
            self._power_drop_check(ranging, testing),
            self._duration_check(ranging, testing),
        ]

    def _clock_check(self) -> Check:
        diff_s = self.evidence.phase_clock_diff_s()
        if diff_s is None:
            return Check("clock_offset", "unknown", "no client.json/server.json phases: the SUT's and "
                         "the director's clocks cannot be compared")
        return checks._check(
            "clock_offset", diff_s <= MAX_PHASE_CLOCK_DIFF_S,
            f"client.json and server.json phase stamps agree within {diff_s * 1000:.0f} ms (800 ms allowed)",
            f"client.json and server.json phase stamps differ by {diff_s * 1000:.0f} ms (over 800 ms)",
        )

    def _overload_check(self, testing: PhaseReport) -> list[Check]:
        """Without the testing ranges (multichannel, or none set), over-range is unknown."""
        testing_ranges = self.meta().ranges["testing"]
        if testing_ranges is not None and testing_ranges.is_set:
            return []  # judged against the ranges like our own sessions
        errors = int(np.count_nonzero(testing.series.watts == -1.0))
        return [checks.range_overload(0, errors, ranges_known=False)]

    def _ptd_shift_s(self) -> int:
        """ptd_logs.txt's offset from UTC, told by its testing ``Go`` against server.json's
        phase; without that line, spl.txt's (PTDaemon writes both)."""
        log = self.evidence.ptd_log
        span = log.phase_span("_testing") if log is not None else None
        if span is None:
            return self.raw.shifts_s.get("testing", (0, 0))[1]
        return local_offset_s(span[0], self.evidence.phases("server").get("testing", []),
                              self.evidence.server_timezone_s)

    def _ptd_window(self, testing: PhaseReport) -> tuple[int, int]:
        """The LoadGen testing window on ptd_logs.txt's clock."""
        shift_ns = self._ptd_shift_s() * 10**9
        return testing.window.begin_ns - shift_ns, testing.window.end_ns - shift_ns

    def _uncertainty_check(self, testing: PhaseReport) -> Check:
        """PTDaemon's own per-sample verdicts inside the LoadGen testing window. (check.py at
        c4b3ad82 means the same rule, but pads the window by TIME_DELTA_TOLERANCE = 800 "ms"
        added to seconds, so it skips runs shorter than 1600 s; we judge the window as written.)"""
        name = "testing_sample_uncertainty"
        log = self.evidence.ptd_log
        if log is None:
            return Check(name, "unknown", "no ptd_logs.txt: PTDaemon's per-sample uncertainty is unknown")
        begin_ns, end_ns = self._ptd_window(testing)
        warnings = log.within(begin_ns, end_ns, "warning")
        above = [p for p in (above_limit(line) for line in warnings) if p is not None]
        if above:
            severity: checks.Status = "fail" if self.rules.uncertainty_error else "warning"
            rule = ("" if self.rules.uncertainty_error
                    else f" (an error only since v3.1; {self.rules.name} rules)")
            return Check(name, severity, f"{len(above)} PTDaemon warnings 'Uncertainty … above 1.00 % "
                         f"limit' inside the testing window (up to {max(above):.2f} %){rule}")
        unknown = sum(is_unknown_uncertainty(line) for line in warnings)
        if unknown:
            return Check(name, "unknown", f"PTDaemon could not evaluate the uncertainty of {unknown} "
                         "testing samples")
        if not log.uncertainty_activated:
            return Check(name, "unknown", "PTDaemon's uncertainty checking was not activated")
        return Check(name, "pass", "PTDaemon checked every testing sample's uncertainty: none above 1.00 %")

    def _ptd_error_checks(self) -> list[Check]:
        log = self.evidence.ptd_log
        if log is None:
            return [Check("ptd_errors", "unknown", "no ptd_logs.txt: PTDaemon's errors are unknown")]
        span = log.phase_span("_testing")
        ranging = log.phase_span("_ranging")
        if span is None or span[1] is None:
            return [Check("ptd_errors", "unknown", "ptd_logs.txt has no complete testing measurement")]
        errors = [e for e in log.lines if e.kind == "error" and span[0] <= e.t_ns <= span[1]]
        uncommon = [e for e in log.lines if e.kind == "error" and ranging and ranging[1]
                    and ranging[0] <= e.t_ns <= ranging[1] and not is_ranging_error(e)]
        result = [checks._check("ptd_errors", not errors, "no PTDaemon error during the testing measurement",
                                f"{len(errors)} PTDaemon errors during the testing measurement "
                                f"(first: {errors[0].text if errors else ''})")]
        if uncommon:
            result.append(Check("ptd_ranging_errors", "warning", f"{len(uncommon)} uncommon PTDaemon "
                                f"errors while ranging (first: {uncommon[0].text})"))
        return result

    def _power_drop_check(self, ranging: PhaseReport, testing: PhaseReport) -> Check:
        check = checks.testing_power_vs_ranging(testing.power.avg_watts, ranging.power.avg_watts)
        if check.status == "fail" and not self.rules.power_drop_rule:
            return Check(check.name, "warning", f"{check.reason}: a rule since v3.1 (power-dev 992e4c2), "
                         f"not in the {self.rules.name} rules")
        return check

    def _duration_check(self, ranging: PhaseReport, testing: PhaseReport) -> Check:
        testing_s, ranging_s = testing.window.duration_s, ranging.window.duration_s
        if self.rules.duration_rule == "50%":
            return checks.testing_duration_vs_ranging(testing_s, ranging_s)
        diff = abs(ranging_s - testing_s) / max(ranging_s, testing_s)
        return checks._check(
            "testing_duration_vs_ranging", diff < 0.05,
            f"testing {testing_s:.3f} s and ranging {ranging_s:.3f} s differ by {diff:.1%} (< 5 %, "
            f"{self.rules.name} rules)",
            f"testing {testing_s:.3f} s and ranging {ranging_s:.3f} s differ by {diff:.1%}: over the 5 % "
            f"of the {self.rules.name} rules (power-dev 827ead7)",
        )

    def checker(self, rules: RuleSet) -> CheckerMetric:
        """The submission checker's number under ``rules``, from the files as written."""
        window, series = self.raw.windows["testing"], self.raw.series["testing"]
        shift_ns = 0 if rules.utc_stamps else self.evidence.client_timezone_s * 10**9
        spl_shift_ns = 0 if rules.utc_stamps else self.evidence.server_timezone_s * 10**9
        begin_ms, end_ms = (window.begin_ns + shift_ns) // NS_PER_MS, (window.end_ns + shift_ns) // NS_PER_MS
        t_ms = (series.t_ns + spl_shift_ns) // NS_PER_MS
        mask = (t_ms > begin_ms) & (t_ms < end_ms)
        if rules.positive_watts_only:
            mask &= series.watts > 0
        watts = series.watts[mask]
        avg = float(np.cumsum(watts)[-1]) / len(watts) if len(watts) else None
        duration_s = (end_ms - begin_ms) / 1000
        fixed = SCENARIOS.get((self.scenario_dir or "").lower(), window.scenario)
        queries = query_count(window.values, fixed, duration_s, rules)
        return checker_metric(avg, len(watts), duration_s, self.scenario_dir or "", window.scenario,
                              queries, rules)

    def extra(self, ranging: PhaseReport, testing: PhaseReport) -> JsonDict:
        current = self.checker(rules_named(CURRENT))
        chosen = self.checker(self.rules)
        self._notes(testing, current)
        evidence = self.evidence
        return {
            "imported": {
                "source": str(self.run_dir), "scenario_dir": self.scenario_dir,
                "loadgen_scenario": self.raw.windows["testing"].scenario,
                "timezone_s": {"server": evidence.server_timezone_s, "client": evidence.client_timezone_s},
                "stamp_shift_s": {phase: json_list(s) for phase, s in self.raw.shifts_s.items()},
                "analyzer_model": evidence.analyzer_model(), "identify": evidence.identify(),
                "channels": None if (channels := evidence.channels()) is None else json_list(channels),
                "testing_ranges": json_dict(evidence.testing_ranges()),
                "power_files": evidence.server is not None,
            },
            "rules": self.rules.as_dict(),
            "checker": {"rules": chosen.as_dict(), "current": current.as_dict()},
            "notes": json_list(self.notes),
        }

    def _notes(self, testing: PhaseReport, current: CheckerMetric) -> None:
        window = self.raw.windows["testing"]
        if self.scenario_dir and SCENARIOS.get(self.scenario_dir.lower()) != window.scenario:
            self.notes.append(f"the results directory says {self.scenario_dir}, LoadGen ran "
                              f"{window.scenario}: reported as {testing.window.scenario}, "
                              "as the checker does")
        if window.query_source != "result_query_count":
            self.notes.append(f"queries derived as {window.query_source}, as the checker of rounds "
                              "v0.5-v1.1 did")
        if current.value is None and current.note:
            self.notes.append(f"today's checker gives no number: {current.note}")
        elif current.samples == 0:
            self.notes.append("today's checker reads spl.txt's stamps as UTC and finds no sample inside the "
                              "LoadGen window: it gives no number and drops the result ('has no power "
                              "samples falling in power range', power_check.py)")
        timezones = (self.evidence.client_timezone_s, self.evidence.server_timezone_s)
        for phase, shifts in self.raw.shifts_s.items():
            for what, shift_s, timezone_s in zip(("LoadGen's stamps", "spl.txt's stamps"), shifts,
                                                 timezones, strict=True):
                if shift_s:
                    self.notes.append(f"{phase}: " + LocalOffset(shift_s, timezone_s).describe(what))
        if ptd_shift_s := self._ptd_shift_s():
            offset = LocalOffset(ptd_shift_s, self.evidence.server_timezone_s)
            self.notes.append("testing: " + offset.describe("ptd_logs.txt's stamps"))
        self.notes.append(f"judged by the {self.rules.name} rules")


def _interval_ms(evidence: Evidence) -> int | None:
    """The sampling interval of PTDaemon's ``Go,<ms>,…`` command."""
    for message in (evidence.server or {}).get("ptd_messages", []) or []:
        parts = str(message.get("cmd", "") if isinstance(message, dict) else "").split(",")
        if parts[0] == "Go" and len(parts) > 1 and parts[1].isdigit():
            return int(parts[1])
    return None


def import_run(
    run_dir: Path, rules: str = CURRENT, scenario: str | None = None, *, checker_column: bool = True
) -> tuple[SessionReport, ImportedRun]:
    """The report of a run we did not record, and what it was built from. Reads only.
    ``checker_column``: with MLCommons' checker beside ours (it reads the run once more)."""
    require_power_run(run_dir)
    if scenario is not None and scenario.lower() not in SCENARIOS:
        raise ReportError(f"unknown scenario {scenario!r} (one of {', '.join(SCENARIOS.values())})")
    try:
        evidence = read_evidence(run_dir)
        ruleset = rules_named(rules)
    except (EvidenceError, ValueError) as exc:
        raise ReportError(str(exc)) from exc
    run = ImportedRun(run_dir, evidence, ruleset, scenario or scenario_from_path(run_dir))
    hooks = ImportHooks(adjust=run.adjust, checks=run.checks, extra=run.extra)
    report = build_report(run_dir, run.meta(), hooks)
    if not checker_column:
        return report, run
    column = section_json(checker_rows(run_dir, list(report.checks)))
    return dataclasses.replace(report, json_unknown={**report.extra, CHECKER_KEY: column}), run


def write_imported(run_dir: Path, out_dir: Path, report: SessionReport, run: ImportedRun) -> None:
    """``report.json``, ``report.html`` and ``power.png`` into ``out_dir``, never into the run."""
    run_root, target = run_dir.resolve(), out_dir.resolve()
    if target == run_root or run_root in target.parents:
        raise ReportError(f"--out {out_dir} lies inside the run {run_dir}: we never write there")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(report.dumps(), encoding="utf-8")
    write_html_report(out_dir, report, run.phases)
