"""The results commands: ``ls`` (alias ``query``) over the index, and ``compare``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import PHASE_DIRS
from power_director.cli.interrupt import SessionTracker
from reports.build.ab_test import default_metric, run_values, unit_of, welch_test, write_ab_html
from reports.build.compare import format_table, load_report, load_sessions, render_compare_png
from reports.model.report import SessionReport
from reports.model.results import SessionResult, is_session_dir, load_session
from reports.store.sqlite import INDEX_FILE, Query, SqliteStore, session_dirs

LS_COLUMNS = ("session", "scenario", "status", "result", "efficiency", "meter", "started")


def _query(args: argparse.Namespace) -> Query:
    return Query(scenario=args.scenario, label=args.label, meter=args.meter, system=args.system,
                 status=args.status, valid=args.valid, newest_first=not args.oldest_first,
                 limit=args.limit)


def _indexed(out_dir: Path, query: Query, rebuild: bool = False) -> list[SessionResult]:
    if not out_dir.is_dir():
        raise ReportError(f"no output directory at {out_dir}")
    with SqliteStore.at(out_dir) as store:
        (store.rebuild if rebuild else store.sync)(out_dir)
        return store.query(query)


def _emit(results: Sequence[SessionResult], args: argparse.Namespace) -> bool:
    """Write CSV/JSON/Parquet if asked; False when the caller prints its own table."""
    if not (args.csv or args.json or args.parquet):
        return False
    from reports.store.frames import sessions_frame  # pandas only when a frame is asked for

    frame = sessions_frame(results)
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif args.json:
        print(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        try:
            frame.to_parquet(args.parquet, index=False)
        except ImportError as exc:
            raise ReportError(f"Parquet export needs pyarrow: pip install 'power-director[parquet]' "
                              f"({exc})") from None
        print(f"{len(frame)} sessions written to {args.parquet}", file=sys.stderr)
    return True


def _result_text(result: SessionResult) -> str:
    if result.value is None:
        return "—"
    digits = 3 if result.unit == "mJ/query" else 2
    error = f" ± {result.uncertainty:.{digits}f}" if result.uncertainty is not None else ""
    return f"{result.value:.{digits}f}{error} {result.unit}"


def ls_table(results: Sequence[SessionResult]) -> str:
    rows = [LS_COLUMNS, *(
        (r.session, r.scenario or "—", r.verdict if r.status == "completed" else r.status, _result_text(r),
         f"{r.efficiency:.4g} {r.efficiency_unit}" if r.efficiency is not None else "—",
         r.meter or "—", r.started or "—")
        for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LS_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_ls(args: argparse.Namespace, tracker: SessionTracker | None = None) -> int:
    results = _indexed(args.out_dir, _query(args), rebuild=args.rebuild)
    if not _emit(results, args):
        print(ls_table(results) if results else f"no sessions in {args.out_dir}")
    return 0


def _skip(result: SessionResult) -> None:
    why = result.problems[0] if result.problems else "no result"
    print(f"power-director: warning: skipping {result.session}: {result.status} ({why})", file=sys.stderr)


def _finished(paths: Sequence[Path], query: Query) -> list[SessionResult | Path]:
    """Each argument's finished sessions: a session directory itself, or an output
    directory's indexed sessions; aborted ones are skipped with a warning. The index file a
    shell glob picks up is passed over. A bare directory of phase files (no report.json,
    no session.json) is returned as its path: its report is recomputed."""
    finished: list[SessionResult | Path] = []
    for path in paths:
        if path.name == INDEX_FILE and path.is_file():
            continue
        if is_session_dir(path):
            candidates = [load_session(path)]
        elif any((path / d).is_dir() for d in PHASE_DIRS.values()):
            finished.append(path)
            continue
        elif session_dirs(path):
            candidates = _indexed(path, query)
        else:
            raise ReportError(f"{path} is not a session directory and holds no sessions")
        for result in candidates:
            if result.finished:
                finished.append(result)
            else:
                _skip(result)
    return finished


def _reports(paths: Sequence[Path], query: Query) -> list[SessionReport]:
    return [load_report(f.path if isinstance(f, SessionResult) else f) for f in _finished(paths, query)]


def run_ab_test(args: argparse.Namespace) -> int:
    """``compare --test A... -- B...``: the difference of the efficiency metric and the verdict."""
    a_reports, b_reports = _reports(args.test, _query(args)), _reports(args.session_dirs, _query(args))
    if not a_reports or not b_reports:
        raise ReportError("the A/B test needs finished sessions on both sides")
    everything = [*a_reports, *b_reports]
    metric, unit = default_metric(everything)
    if args.metric:
        metric, unit = args.metric, unit_of(args.metric, everything)
    a = [v for r in a_reports for v in run_values(r, metric)]
    b = [v for r in b_reports for v in run_values(r, metric)]
    test = welch_test(a, b, metric, unit, args.resolve)
    if args.html:
        write_ab_html(args.html, a, b, test, [r.session for r in a_reports], [r.session for r in b_reports])
    if args.json:
        print(json.dumps(test.to_json(), indent=2))
        return 0
    for side, stats in (("A", test.a), ("B", test.b)):
        spread = f", stdev {stats.stdev:.4g}" if stats.stdev is not None else ""
        print(f"{side}: n={stats.n}, mean {stats.mean:.4g} {unit}{spread}")
    print(test.verdict)
    if args.html:
        print(f"plot: {args.html}")
    return 0


def run_compare(args: argparse.Namespace, tracker: SessionTracker | None = None) -> int:
    if args.test:
        return run_ab_test(args)
    finished = _finished(args.session_dirs, _query(args))
    if not finished:
        raise ReportError("no finished session to compare")
    if args.csv or args.json or args.parquet:
        _emit([f if isinstance(f, SessionResult) else load_session(f) for f in finished], args)
        return 0
    sessions = load_sessions([f.path if isinstance(f, SessionResult) else f for f in finished])
    print(format_table(sessions))
    if args.plot:
        args.plot.write_bytes(render_compare_png(sessions))
        print(f"plot: {args.plot}")
    return 0
