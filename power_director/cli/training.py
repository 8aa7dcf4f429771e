"""``power-director training``: an MLPerf Training job measured run by run, its window the job's own
``run_start``..``run_stop``, and the files Training submitters hand in (mlperf_logging's layout);
``power-director qualify``: a meter against a SPEC-accepted one by the Training rule.
See docs/mlperf-training.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import RAW_DIR, REPORT_JSON, read_session_meta, samples_path
from power_director.cli.interrupt import SessionTracker, cancellable
from power_director.cli.parser import TREE_DIR
from power_director.config.loader import ConfigError, load_config
from power_director.session.measure import MeasurePlan, measure_sessions, sim_meter
from reports.mlperf.qualify import (
    Condition,
    qualification_lines,
)
from reports.mlperf.qualify import qualify as qualify_conditions
from reports.mlperf.training import TreeRun, training_tree
from reports.model.report import SessionReport
from reports.phase_report import read_phase_window
from reports.spl import read_spl

DEFAULT_OUT = Path("power-runs")


def _plan(args: argparse.Namespace) -> MeasurePlan:
    argv = list(args.workload)
    argv = argv[1:] if argv[:1] == ["--"] else argv
    if not argv:
        raise ConfigError("no training job to measure: give it after '--'")
    if not 0 < args.conversion_eff <= 1:
        raise ConfigError(f"--conversion-eff must be in (0, 1], not {args.conversion_eff:g}")
    label = args.label or f"training-{Path(argv[0]).name or 'job'}"
    return MeasurePlan(argv, repeat=args.runs, label=label, estimates=False, training=True, mllog=args.mllog)


def command(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(run_training(args, tracker), "training", tracker))


async def run_training(args: argparse.Namespace, tracker: SessionTracker) -> int:
    plan = _plan(args)
    say: Callable[[str], None] = (lambda _t: None) if args.quiet or args.json else print
    def echo(data: bytes) -> None:
        stream = sys.stderr if args.json else sys.stdout
        stream.buffer.write(data)
        stream.flush()
    if args.meter == "sim":
        out_root = args.out or DEFAULT_OUT
        tracker.out_root = out_root
        async with sim_meter(out_root, False) as (config, listeners):
            (session,) = await measure_sessions(plan, config, out_root, listeners=listeners, say=say,
                                                echo=echo, observers=[tracker])
    else:
        config = load_config(args.config)
        out_root = args.out or Path(config.session.out_dir)
        tracker.out_root = out_root
        (session,) = await measure_sessions(plan, config, out_root, say=say, echo=echo, observers=[tracker])
    benchmark_dir = _benchmark_dir(args, session.directory)
    runs = training_tree(session.directory, benchmark_dir, args.conversion_eff, args.measurement_type)
    _print_training(args, session.directory, benchmark_dir, runs)
    return next((code for code in session.exit_codes if code != 0), 0 if session.report.valid else 1)


def _benchmark_dir(args: argparse.Namespace, session_dir: Path) -> Path:
    meta = read_session_meta(session_dir)
    window = read_phase_window(session_dir / "run_1", "testing")
    benchmark = args.benchmark or str(window.values.get("submission_benchmark") or "benchmark")
    system = args.system or meta.system_name or "system"
    for name, value in (("--benchmark", benchmark), ("--system", system)):
        if not value or "/" in value or value.startswith("."):
            raise ConfigError(f"{name} {value!r} is not a folder name")
    return (args.tree or session_dir / TREE_DIR) / "results" / system / benchmark


def _print_training(
    args: argparse.Namespace, session_dir: Path, benchmark_dir: Path, runs: list[TreeRun]
) -> None:
    if args.json:
        print(json.dumps({"session": str(session_dir), "tree": str(benchmark_dir), "runs": [
            {"result": f"result_{r.index}", "phase": r.phase, "energy_j": r.energy.rule_j,
             "window_energy_j": r.energy.window_j, "nodes_j": r.energy.nodes_j,
             "switches_j": r.energy.switches_j} for r in runs]}, indent=2))
        return
    print(f"{session_dir.name}: {len(runs)} run(s); MLPerf Training power files in {benchmark_dir}")
    for run in runs:
        print(f"  result_{run.index}: {run.energy.rule_j:.1f} J by the Training rule "
              f"({run.energy.window_j:.1f} J inside run_start..run_stop)")


def _condition(session_dir: Path, candidate: str | None) -> Condition:
    meta = read_session_meta(session_dir)
    beside = [str(a.driver) for a in meta.analyzers if a.role == "beside"]
    driver = candidate or (beside[0] if beside else None)
    if driver is None or meta.analyzer is None or not meta.analyzer.driver:
        raise ReportError(f"{session_dir}: no candidate meter (measure with it as role = \"beside\")")
    mark = str(meta.phase("testing").mark or "")
    raw = session_dir / RAW_DIR
    series = [read_spl(samples_path(raw, d)).with_mark(mark).sorted_by_time()
              for d in (meta.analyzer.driver, driver)]
    ok = [s.watts > 0 for s in series]
    window = read_phase_window(session_dir / "run_1", "testing")
    name = SessionReport.read(session_dir / REPORT_JSON).label or session_dir.name
    return Condition(name, (series[0].t_ns[ok[0]], series[0].watts[ok[0]]),
                     (series[1].t_ns[ok[1]], series[1].watts[ok[1]]), window.begin_ns, window.end_ns)


def run_qualify(args: argparse.Namespace, tracker: SessionTracker | None = None) -> int:
    conditions = [_condition(path, args.candidate) for path in args.sessions]
    result = qualify_conditions(conditions, args.window_s, args.windows, args.tolerance_pct)
    if args.json:
        payload: dict[str, Any] = {"passed": result.passed, "tolerance_pct": result.tolerance_pct,
                                   "problems": list(result.problems), "conditions": [
            {"name": c.name, "reference_watts": c.reference_score_watts,
             "candidate_watts": c.candidate_score_watts, "difference_pct": c.difference_pct,
             "worst_window_pct": c.worst_window_pct, "passed": c.passed}
            for c in result.conditions]}
        print(json.dumps(payload, indent=2))
    else:
        print("\n".join(qualification_lines(result)))
    return 0 if result.passed else 1
