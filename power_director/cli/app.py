"""``power-director``: the command line. Exit 0 only for a completed, valid measurement."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from analyzer_drivers.formats.errors import PowerDirectorError, ReportError
from analyzer_drivers.formats.session_layout import RAW_DIR, REPORT_JSON, read_session_meta
from analyzer_drivers.formats.session_meta import SessionMeta
from loadgen_bridge.remote.agent import result_text, run_agent
from loadgen_bridge.workload import CommandWorkload
from power_director.cli import mlperf
from power_director.cli import sim_redfish as datacenter_cli
from power_director.cli.demo import run_demo
from power_director.cli.help import positive_float, positive_int, with_defaults
from power_director.cli.interrupt import Interrupted, SessionTracker, cancellable, interrupted_text
from power_director.cli.measure import add_measure_command, run_measure
from power_director.cli.meter_agent import run_meter_agent
from power_director.cli.ptd_launcher import run_launcher
from power_director.cli.results import add_results_commands, run_compare, run_ls
from power_director.cli.sim import add_sim_commands, broker_option, run_sim
from power_director.cli.training import add_training_commands, run_qualify, run_training
from power_director.config.loader import Config, ConfigError, TelemetryConfig, load_config
from power_director.observe.observer import SessionObserver
from power_director.observe.progress import ProgressLine
from power_director.remote.service import serve
from power_director.session.assembly import build_session, check_session_config, open_exporter, open_telemetry
from power_director.session.files import rebuild_session_files
from power_director.session.journal import recover_meta
from power_director.session.recording import record_session
from reports.build.audit import audit_csv, audit_summary, audit_table, audit_tree
from reports.build.mlperf_import import import_run, is_own_session, write_imported
from reports.build.recovery import raw_sample_files, write_recovered_report
from reports.build.session_report import write_report
from reports.mlperf.rules import CURRENT, RULESETS, rules_table
from reports.model.report import SessionReport
from reports.render.html import REPORT_HTML
from reports.render.plot import POWER_PNG
from reports.render.summary import summary_text
from reports.version import tool_version

EXIT_INVALID = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

MEASURING_COMMANDS = ("run", "demo", "agent", "serve", "measure", "training")
# Every error of ours is a PowerDirectorError; OSError is the system's (a full disk, a refused port).
EXPECTED_ERRORS = (PowerDirectorError, OSError)


def add_lab_options(command: argparse.ArgumentParser) -> None:
    """Options ``run`` and ``demo`` share: telemetry, output for scripts, repeat runs."""
    command.add_argument("--mqtt", type=_broker_text, metavar="HOST:PORT",
                         help="publish live telemetry to this MQTT broker (overrides [telemetry] broker)")
    output = command.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="print only the final summary and errors")
    output.add_argument("--json", action="store_true", help="print only the final report JSON on stdout")
    command.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                         help="N testing runs after one ranging run (run_1..run_N), with a 95%% interval")


def add_rules_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--rules", default=CURRENT, choices=list(RULESETS),
                         help=f"judge an imported run by this round's rules (default {CURRENT})")
    command.add_argument("--scenario", help="the results directory's scenario, when DIR is not "
                         "<scenario>/performance (the checker takes the scenario from there)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="power-director",
        description="Measure wall power during MLPerf LoadGen runs and report MLPerf Power results.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="simulated meter + real LoadGen, no hardware needed")
    demo.add_argument("--out", type=Path, default=Path("power-runs"), help="sessions go here")
    demo.add_argument(
        "--seconds", type=positive_float, default=5.0, help="LoadGen minimum duration per phase"
    )
    add_lab_options(demo)

    run = commands.add_parser("run", help="measure a workload command that writes LoadGen logs")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="the director's TOML config (power-director check-config --config FILE checks it)")
    run.add_argument("--label", help="names the session directory (default: the config's [session] label)")
    run.add_argument("--out", type=Path, help="sessions go here (default: config's out_dir)")
    run.add_argument("--loadgen-logs", type=Path, help="where the command writes its LoadGen logs "
                     "(default: it writes to $POWER_DIRECTOR_LOG_DIR)")
    run.add_argument("--reuse-ranging", type=Path, metavar="SESSION_DIR",
                     help="skip ranging: use that earlier session's testing ranges (not MLPerf-valid)")
    add_lab_options(run)
    mlperf.add_power_dev_options(run)
    run.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")
    add_measure_command(commands)
    add_training_commands(commands)

    check = commands.add_parser("check-config", help="validate a config file and print the effective config")
    check.add_argument("config", type=Path, nargs="?", metavar="FILE", help="the config file")
    check.add_argument("--config", type=Path, dest="config_option", metavar="FILE",
                       help="the config file, as run and serve take it")

    report = commands.add_parser(
        "report", help="recompute a session's report, or read any MLPerf power run without writing to it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="rule sets (--rules):\n" + rules_table(),
    )
    report.add_argument("session_dir", type=Path, metavar="DIR",
                        help="a session directory (e.g. power-runs/2026-11-23_10-36-55_demo-offline) "
                        "or a published MLPerf power run (<scenario>/performance/run_1's parent)")
    report.add_argument("--out", type=Path, metavar="DIR2", help="a run we did not record: write "
                        "report.json, report.html and power.png here (never into DIR)")
    report.add_argument("--json", action="store_true", help="print report.json on stdout")
    report.add_argument("--config", type=Path, metavar="FILE", help="a session whose director died: "
                        "the director's config, to pull its mqtt-stream meters' samples from their agents")
    add_rules_options(report)
    audit = commands.add_parser("audit", help="one row per power run of a submission tree (reads only)")
    audit.add_argument("tree", type=Path, metavar="TREE",
                       help="a submission tree (closed|open/<org>/results/...) or a folder above runs")
    audit_format = audit.add_mutually_exclusive_group()
    audit_format.add_argument("--csv", action="store_true", help="CSV on stdout")
    audit_format.add_argument("--json", action="store_true", help="JSON on stdout")
    audit.add_argument("--jobs", type=positive_int, default=2, help="processes (default 2)")
    audit.add_argument("--rules", default=f"{CURRENT}", help="comma-separated rule sets to judge "
                       f"by (default {CURRENT}; one of {', '.join(RULESETS)})")

    mlperf.add_submission_command(commands)

    add_remote_commands(commands)
    add_results_commands(commands)  # ls/query, compare
    datacenter_cli.add_datacenter_commands(commands)
    add_sim_commands(commands)
    with_defaults(parser)
    return parser


def add_remote_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve_cmd = commands.add_parser("serve", help="the director service for remote SUT agents")
    serve_cmd.add_argument("--config", type=Path, metavar="FILE",
                           help="the director's TOML config, with a [service] section")
    mlperf.add_power_dev_options(serve_cmd)
    mlperf.add_checksums_command(commands)

    agent = commands.add_parser("agent", help="on the SUT: run a workload for a remote director")
    agent.add_argument("--director", required=True, help="HOST:PORT of 'power-director serve'")
    agent.add_argument("--token-file", type=Path, help="the director's shared secret")
    agent.add_argument("--tls-ca", type=Path, help="use TLS, trusting this (CA) certificate")
    agent.add_argument("--label", default="run", help="names the session directory")
    agent.add_argument("--out", type=Path, default=Path("power-runs"),
                       help="the finished session and this SUT's LoadGen logs go here")
    agent.add_argument("--loadgen-logs", type=Path,
                       help="where the command writes LoadGen logs (default: $POWER_DIRECTOR_LOG_DIR)")
    agent.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")

    meter_agent = commands.add_parser("meter-agent", help="publish this machine's meters to an MQTT broker")
    meter_agent.add_argument("--config", type=Path, required=True, help="[agent] and [[meter]] tables")


def _workload_argv(args: argparse.Namespace) -> list[str]:
    argv = list(args.workload)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ConfigError("no workload command: give it after '--'")
    return argv


async def _serve(args: argparse.Namespace, tracker: SessionTracker) -> int:
    config = mlperf.load_run_config(args, service=True)
    tracker.out_root = Path(config.session.out_dir)
    if args.power_dev is not None:
        return await mlperf.serve_power_dev_engine(args, config)
    await serve(config, observers=[tracker])
    return 0


async def _agent(args: argparse.Namespace) -> int:
    result = await run_agent(
        args.director, _workload_argv(args), token_file=args.token_file, label=args.label,
        loadgen_logs=args.loadgen_logs, out_root=args.out, tls_ca=args.tls_ca,
    )
    print(result_text(result))
    if result.status != "completed":
        print(f"power-director: error: session {result.status}: {result.error}", file=sys.stderr)
        return EXIT_ERROR
    return 0 if result.valid else EXIT_INVALID

def _broker_text(text: str) -> str:
    broker_option(text)
    return text


Body = Callable[[Callable[[str], None], list[SessionObserver]], Awaitable[list[SessionReport]]]


def _say_for(args: argparse.Namespace, progress: ProgressLine | None) -> Callable[[str], None]:
    if args.quiet or args.json:
        return lambda _text: None
    return progress.say if progress is not None else print


async def _observed(args: argparse.Namespace, telemetry_config: TelemetryConfig, body: Body) -> int:
    """Run ``body`` with the observers the options ask for; print what the output mode wants."""
    progress = ProgressLine(sys.stdout) if not (args.quiet or args.json) else None
    async with contextlib.AsyncExitStack() as stack:
        observers: list[SessionObserver] = [progress] if progress is not None else []
        telemetry = await stack.enter_async_context(open_telemetry(telemetry_config, args.mqtt or ""))
        if telemetry is not None:
            observers.append(telemetry)
        exporter = stack.enter_context(open_exporter(telemetry_config))
        if exporter is not None:
            observers.append(exporter)
        if progress is not None and progress.enabled:
            ticker = asyncio.ensure_future(progress.tick())
            stack.callback(ticker.cancel)
        reports = await body(_say_for(args, progress), observers)
    if args.json:
        print(reports[0].dumps().rstrip("\n") if len(reports) == 1
              else json.dumps([r.to_json() for r in reports], indent=2))
    if telemetry is not None:
        print(telemetry.summary(), file=sys.stderr if args.json else sys.stdout)
    return 0 if all(r.valid for r in reports) else EXIT_INVALID


async def _run(args: argparse.Namespace, tracker: SessionTracker) -> int:
    config = mlperf.load_run_config(args)
    argv = _workload_argv(args)
    tracker.out_root = args.out or Path(config.session.out_dir)

    async def body(say: Callable[[str], None], observers: list[SessionObserver]) -> list[SessionReport]:
        if args.power_dev is not None:
            return [await mlperf.run_power_dev_engine(args, config, argv, tracker.out_root, say)]
        session = build_session(
            config, CommandWorkload(argv, args.loadgen_logs),
            out_root=args.out or Path(config.session.out_dir), label=args.label, say=say,
            observers=[*observers, tracker], repeat=args.repeat, reuse_ranging=args.reuse_ranging,
        )
        report = await session.run()
        record_session(config, session.dir)
        if not args.json:
            print(summary_text(report))
            print(f"  files: {session.dir}")
        return [report]

    return await _observed(args, config.telemetry, body)


async def _demo(args: argparse.Namespace, tracker: SessionTracker) -> int:
    tracker.out_root = args.out

    async def body(say: Callable[[str], None], observers: list[SessionObserver]) -> list[SessionReport]:
        summary = (lambda _text: None) if args.json else print
        return await run_demo(args.out, args.seconds, say, observers=[*observers, tracker],
                              repeat=args.repeat, summary=summary)

    return await _observed(args, TelemetryConfig(), body)


def _check_config(args: argparse.Namespace) -> int:
    path = args.config_option or args.config
    if path is None or (args.config_option and args.config):
        raise ConfigError("check-config takes one config file: FILE or --config FILE")
    config = load_config(path)
    check_session_config(config)
    print(f"# {path}: valid; the effective configuration")
    print(json.dumps(asdict(config), indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
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
        report = write_report(session_dir)
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
    print(report.dumps().rstrip("\n") if args.json else summary_text(report))
    return 0 if report.valid else EXIT_INVALID


def _recover_fleet(session_dir: Path, meta: SessionMeta, config: Config) -> None:
    """A director that died: its stream meters' agents' journals fill what it never received."""
    from power_director.session.fleet_recovery import recover_fleet

    print(f"recovering {session_dir.name} from the meter agents' journals", file=sys.stderr)
    say = functools.partial(print, file=sys.stderr)
    for line in asyncio.run(recover_fleet(session_dir, meta, config, say)):
        print(f"  still missing: {line}", file=sys.stderr)


def _report_imported(args: argparse.Namespace) -> int:
    """A run we did not record: read it, write only under --out."""
    report, run = import_run(args.session_dir, args.rules, args.scenario)
    if args.out:
        write_imported(args.session_dir, args.out, report, run)
    print(report.dumps().rstrip("\n") if args.json else summary_text(report))
    return 0 if report.valid else EXIT_INVALID


def _audit(args: argparse.Namespace) -> int:
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


def dispatch(args: argparse.Namespace, tracker: SessionTracker) -> int:
    if args.command == "demo":
        return asyncio.run(cancellable(_demo(args, tracker), "demo", tracker))
    if args.command == "run":
        return asyncio.run(cancellable(_run(args, tracker), "run", tracker))
    if args.command == "measure":
        return asyncio.run(cancellable(run_measure(args, tracker), "measure", tracker))
    if args.command == "training":
        return asyncio.run(cancellable(run_training(args, tracker), "training", tracker))
    if args.command == "qualify":
        return run_qualify(args)
    if args.command == "report":
        return _report(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "serve":
        return asyncio.run(cancellable(_serve(args, tracker), "serve", tracker))
    if args.command == "agent":
        return asyncio.run(cancellable(_agent(args), "agent"))
    if args.command == "meter-agent":
        return asyncio.run(run_meter_agent(args.config))
    if args.command == "compare":
        return run_compare(args)
    if args.command in ("ls", "query"):
        return run_ls(args)
    if args.command == "submission":
        return mlperf.submission(args)
    if args.command == "sources-checksums":
        return mlperf.sources_checksums()
    if args.command == "check-config":
        return _check_config(args)
    if args.command in datacenter_cli.COMMANDS:
        return datacenter_cli.run_datacenter_command(args)
    if args.simulator == "ptd-launcher":
        return run_launcher(args.ptd_args)
    # Our own handler, not asyncio.run's: it wakes the loop through its wakeup fd even when the
    # signal lands on a simulator's worker thread (seen once: a sim that never stopped).
    return asyncio.run(cancellable(run_sim(args), "sim"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tracker = SessionTracker()
    try:
        return dispatch(args, tracker)
    except BrokenPipeError:
        # The reader went away (``| head``): what it wanted is printed; say nothing more.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Interrupted as exc:  # before EXPECTED_ERRORS: it is one too, with its own exit status
        print(f"power-director: {'' if args.command == 'sim' else 'error: '}{exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EXPECTED_ERRORS as exc:
        print(f"power-director: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # before a command's own handler is installed, or after it
        if args.command in MEASURING_COMMANDS:
            print(f"power-director: error: {interrupted_text(args.command, 'SIGINT', tracker)}",
                  file=sys.stderr)
        else:
            print(f"power-director: {args.command} stopped (interrupted)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: still one line, and the raw data stays on disk
        kept = tracker.kept()
        where = f"raw data kept in {', '.join(map(str, kept))}; " if kept else ""
        print(f"power-director: internal error: {type(exc).__name__}: {exc} ({where}"
              "please report this)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
