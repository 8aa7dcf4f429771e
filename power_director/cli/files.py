"""The commands that read files and write reports: ``check-config``, ``report``, ``audit``,
(``submission``: cli/mlperf.py). Each is ``(args, tracker) -> exit status``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import sys
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import RAW_DIR, REPORT_JSON, read_session_meta
from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.cli.exits import EXIT_INVALID
from power_director.cli.interrupt import SessionTracker
from power_director.config.loader import Config, ConfigError, load_config
from power_director.session.assembly import check_session_config
from power_director.session.files import rebuild_session_files
from power_director.session.journal import recover_meta
from reports.build.audit import audit_csv, audit_summary, audit_table, audit_tree
from reports.build.mlperf_import import import_run, is_own_session, write_imported
from reports.build.recovery import raw_sample_files, write_recovered_report
from reports.build.session_report import write_report
from reports.mlperf.rules import RULESETS
from reports.render.html import REPORT_HTML
from reports.render.plot import POWER_PNG
from reports.render.summary import summary_text


def check_config(args: argparse.Namespace, tracker: SessionTracker) -> int:
    path = args.config or args.config_file
    if path is None or (args.config and args.config_file):
        raise ConfigError("check-config takes one config file: --config FILE")
    if args.config_file:
        print("power-director: note: check-config FILE is now check-config --config FILE "
              "(the old spelling goes in the next release)", file=sys.stderr)
    config = load_config(path)
    check_session_config(config)
    print(f"# {path}: valid; the effective configuration")
    print(json.dumps(config.settings(), indent=2))
    return 0


def report(args: argparse.Namespace, tracker: SessionTracker) -> int:
    session_dir: Path = args.session_dir
    if not session_dir.is_dir():
        raise ReportError(f"no session directory at {session_dir}")
    if not is_own_session(session_dir):
        return _report_imported(args)
    meta = recover_meta(session_dir / RAW_DIR, read_session_meta(session_dir))
    if args.config is not None and meta.status != "completed":
        _recover_fleet(session_dir, meta, load_config(args.config))
    rebuild_session_files(session_dir, meta)
    try:
        built = write_report(session_dir)
    except ReportError as exc:
        if not raw_sample_files(session_dir):
            raise
        recovered = write_recovered_report(session_dir, meta, str(exc))
        counts = {phase: sum(c.values()) for phase, c in recovered.extra["recovered"]["samples"].items()}
        kept = ", ".join(f"{n} {phase}" for phase, n in counts.items())
        raise ReportError(
            f"{recovered.problems[0]}; recovered {kept} samples; report.json marks the session invalid"
        ) from exc
    if args.out:  # our own session keeps its report too; --out gets copies
        args.out.mkdir(parents=True, exist_ok=True)
        for name in (REPORT_JSON, REPORT_HTML, POWER_PNG):
            if (session_dir / name).is_file():
                shutil.copyfile(session_dir / name, args.out / name)
    print(built.dumps().rstrip("\n") if args.json else summary_text(built))
    return 0 if built.valid else EXIT_INVALID


def _recover_fleet(session_dir: Path, meta: SessionMeta, config: Config) -> None:
    """A director that died: its stream meters' agents' journals fill what it never received."""
    from power_director.session.fleet_recovery import recover_fleet

    print(f"recovering {session_dir.name} from the meter agents' journals", file=sys.stderr)
    say = functools.partial(print, file=sys.stderr)
    for line in asyncio.run(recover_fleet(session_dir, meta, config, say)):
        print(f"  still missing: {line}", file=sys.stderr)


def _report_imported(args: argparse.Namespace) -> int:
    """A run we did not record: read it, write only under --out."""
    built, run = import_run(args.session_dir, args.rules, args.scenario)
    if args.out:
        write_imported(args.session_dir, args.out, built, run)
    print(built.dumps().rstrip("\n") if args.json else summary_text(built))
    return 0 if built.valid else EXIT_INVALID


def audit(args: argparse.Namespace, tracker: SessionTracker) -> int:
    rules = [name.strip() for name in args.rules.split(",") if name.strip()]
    unknown = [name for name in rules if name not in RULESETS]
    if unknown or not rules:
        raise ReportError(f"unknown rule set {', '.join(unknown) or '(none)'} (one of {', '.join(RULESETS)})")
    progress = sys.stderr.isatty() and not (args.csv or args.json)
    rows = audit_tree(args.tree, rules, args.jobs, progress=progress)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        sys.stdout.write(audit_csv(rows, rules))
    else:
        print(audit_table(rows, rules))
        print(audit_summary(rows, rules))
    return 0
