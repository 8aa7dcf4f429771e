"""``power-director measure [--config FILE | --meter sim] [--json] [--repeat N] [--idle-s S]
[--work-regex RE] [--b-cmd 'CMD B'] -- CMD ...``: the energy of any command.

Exit status: the command's own (the first non-zero of its runs) when the measurement
succeeded; 2 (one line, the raw data kept) when the meter failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import PowerDirectorError
from loadgen_bridge.command_run import compile_work_regex
from power_director.cli.interrupt import SessionTracker, cancellable
from power_director.config.loader import ConfigError, load_config
from power_director.session.measure import MeasuredSession, MeasurePlan, measure_sessions, sim_meter
from reports.build.ab_test import AbTest, default_metric, run_values, welch_test, write_ab_html
from reports.model.headline import headline

DEFAULT_OUT = Path("power-runs")


def _plan(args: argparse.Namespace) -> MeasurePlan:
    argv = list(args.workload)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ConfigError("no command to measure: give it after '--'")
    if args.idle_s < 0:
        raise ConfigError(f"--idle-s must be 0 or more, not {args.idle_s:g}")
    b_argv = shlex.split(args.b_cmd) if args.b_cmd else None
    if args.b_cmd is not None and not b_argv:
        raise ConfigError("--b-cmd is empty")
    regex = compile_work_regex(args.work_regex) if args.work_regex else None
    return MeasurePlan(argv, b_argv, args.repeat, args.idle_s, regex, args.work_unit, args.label,
                       estimates=not args.no_estimates, sim_estimate=args.sim_estimate)


def command(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(run_measure(args, tracker), "measure", tracker))


async def run_measure(args: argparse.Namespace, tracker: SessionTracker) -> int:
    plan = _plan(args)
    say: Callable[[str], None] = (lambda _t: None) if args.quiet or args.json else print
    # --json keeps stdout for the JSON: the command's own output goes to stderr then.
    stream = sys.stderr if args.json else sys.stdout
    def echo(data: bytes) -> None:
        stream.buffer.write(data)
        stream.flush()
    if args.meter == "sim":
        out_root = args.out or DEFAULT_OUT
        tracker.out_root = out_root
        async with sim_meter(out_root, plan.sim_estimate) as (config, listeners):
            sessions = await measure_sessions(plan, config, out_root, listeners=listeners, say=say, echo=echo,
                                              observers=[tracker])
    else:
        if args.sim_estimate:
            raise ConfigError("--sim-estimate goes with --meter sim")
        config = load_config(args.config)
        out_root = args.out or Path(config.session.out_dir)
        tracker.out_root = out_root
        sessions = await measure_sessions(plan, config, out_root, say=say, echo=echo, observers=[tracker])
    test = _ab(sessions, args.resolve, out_root) if plan.b_argv is not None else None
    if args.json:
        print(json.dumps(_json(sessions, test), indent=2))
    else:
        for session in sessions:
            print(summary_lines(session))
        if test is not None:
            print(f"A/B ({test[0].metric}): {test[0].verdict}\n  plot: {test[1]}")
    return next((code for s in sessions for code in s.exit_codes if code != 0), 0)


def _ab(sessions: Sequence[MeasuredSession], resolve_pct: float, out_root: Path) -> tuple[AbTest, Path]:
    """The A/B test on energy per unit of work where both sides count work, else energy per run."""
    metric, unit = default_metric([s.report for s in sessions])
    values = {side: [v for s in sessions if s.side == side for v in run_values(s.report, metric)]
              for side in ("A", "B")}
    test = welch_test(values["A"], values["B"], metric, unit, resolve_pct)
    label = (sessions[0].report.label or "measure").removesuffix("-A")
    path = out_root / f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{label}_ab.html"
    write_ab_html(path, values["A"], values["B"], test,
                  [s.directory.name for s in sessions if s.side == "A"],
                  [s.directory.name for s in sessions if s.side == "B"])
    return test, path


def session_json(session: MeasuredSession) -> dict[str, Any]:
    """Run 1's figures at the top (energy_j, avg_watts, uncertainty_watts, duration_s…), every run
    and their summary below; a LoadGen command keeps its MLPerf metric."""
    report = session.report
    runs = [run.to_json() for run in report.measure.runs] if report.measure else []
    figures: dict[str, Any] = {"session": report.session, "dir": str(session.directory), "side": session.side,
                         "valid": report.valid, "exit_codes": list(session.exit_codes)}
    if runs:
        figures.update({k: v for k, v in runs[0].items() if k != "run"})
    if report.scenario != "command":
        metric = headline(report)
        figures["mlperf"] = {"scenario": report.scenario, "metric": metric.key, "value": metric.value,
                             "unit": metric.unit, "efficiency": report.efficiency.to_json()}
    figures["runs"] = runs
    figures["summary"] = report.measure.summary.to_json() if report.measure else {}
    return figures


def _json(sessions: Sequence[MeasuredSession], test: tuple[AbTest, Path] | None) -> dict[str, Any]:
    if test is None:
        return session_json(sessions[0])
    return {"a": [session_json(s) for s in sessions if s.side == "A"],
            "b": [session_json(s) for s in sessions if s.side == "B"],
            "test": {**test[0].to_json(), "html": str(test[1])}}


def _number(value: object, digits: int = 2, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{value:.{digits}f}{' ' + unit if unit else ''}"


def summary_lines(session: MeasuredSession) -> str:
    """A few lines per session for people: J, W ±, idle, work, phases, estimates."""
    report = session.report
    lines = []
    for run in report.measure.runs if report.measure else ():
        lines.append(f"{report.session} run {run.run}: {_number(run.duration_s, 2, 's')}, "
                     f"{_number(run.energy_j, 1, 'J')}, {_number(run.avg_watts)} ± "
                     f"{_number(run.uncertainty_watts)} W, exit {run.exit_code}")
        if run.idle is not None:
            lines.append(f"  idle {_number(run.idle.idle_watts)} W; above idle "
                         f"{_number(run.energy_above_idle_j, 1, 'J')}"
                         + (f"; {run.idle.note}" if run.idle.note else ""))
        if run.energy_per_unit_j is not None:
            units = run.work.units if run.work else None
            lines.append(f"  work {_number(units, 0)} {run.unit}: "
                         f"{_number(run.energy_per_unit_j, 4)} J/{run.unit}")
        lines += [f"  phase {p.name}: {_number(p.duration_s, 2, 's')}, "
                  f"{_number(p.energy_j, 1, 'J')}, {_number(p.avg_watts)} W" for p in run.phases]
        lines += [f"  estimate {e.source}: {_number(e.energy_j, 1, 'J')} "
                  f"({_number(e.error_vs_wall_pct, 1)} % vs the wall meter; informative)"
                  for e in run.estimates]
    if report.scenario != "command":
        lines.append(f"  LoadGen {report.scenario}: {headline(report).text()}")
    lines.append(f"  files: {session.directory}")
    return "\n".join(lines)


__all__ = ["PowerDirectorError", "command", "run_measure"]
