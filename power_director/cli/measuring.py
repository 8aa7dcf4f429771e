"""The commands that measure or serve: ``demo``, ``run``, ``serve``, ``sut-agent`` and
``meter-agent``. Each is ``(args, tracker) -> exit status``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from loadgen_bridge.workload import CommandWorkload, lead_s
from power_director.cli import mlperf
from power_director.cli.demo import run_demo
from power_director.cli.exits import EXIT_ERROR, EXIT_INVALID
from power_director.cli.interrupt import SessionTracker, cancellable
from power_director.config.loader import ConfigError, TelemetryConfig
from power_director.observe.observer import SessionObserver
from power_director.observe.progress import ProgressLine
from power_director.session.assembly import build_session, open_exporter, open_telemetry
from reports.model.report import SessionReport
from reports.render.summary import summary_text

Body = Callable[[Callable[[str], None], list[SessionObserver]], Awaitable[list[SessionReport]]]


def demo(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(_demo(args, tracker), "demo", tracker))


def run(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(_run(args, tracker), "run", tracker))


def serve(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(_serve(args, tracker), "serve", tracker))


def sut_agent(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(cancellable(_sut_agent(args), "sut-agent"))


def meter_agent(args: argparse.Namespace, tracker: SessionTracker) -> int:
    from power_director.cli.meter_agent import run_meter_agent

    return asyncio.run(run_meter_agent(args.config))


def _workload_argv(args: argparse.Namespace) -> list[str]:
    argv = list(args.workload)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ConfigError("no workload command: give it after '--'")
    return argv


async def _serve(args: argparse.Namespace, tracker: SessionTracker) -> int:
    from power_director.remote.service import serve as serve_director

    config = mlperf.load_run_config(args, service=True)
    tracker.out_root = Path(config.session.out_dir)
    if args.power_dev is not None:
        return await mlperf.serve_power_dev_engine(args, config)
    await serve_director(config, observers=[tracker])
    return 0


async def _sut_agent(args: argparse.Namespace) -> int:
    from loadgen_bridge.remote.agent import result_text, run_agent

    result = await run_agent(
        args.director, _workload_argv(args), token_file=args.token_file, label=args.label,
        loadgen_logs=args.loadgen_logs, out_root=args.out, tls_ca=args.tls_ca,
    )
    print(result_text(result))
    if result.status != "completed":
        print(f"power-director: error: session {result.status}: {result.error}", file=sys.stderr)
        return EXIT_ERROR
    return 0 if result.valid else EXIT_INVALID


def _say_for(args: argparse.Namespace, progress: ProgressLine | None) -> Callable[[str], None]:
    if args.quiet or args.json:
        return lambda _text: None
    return progress.say if progress is not None else print


async def _observed(args: argparse.Namespace, telemetry_config: TelemetryConfig, body: Body) -> int:
    """Run ``body`` with the observers the options ask for; print what the output mode wants."""
    progress = ProgressLine(sys.stdout) if not (args.quiet or args.json) else None
    async with contextlib.AsyncExitStack() as stack:
        observers: list[SessionObserver] = [progress] if progress is not None else []
        telemetry = await stack.enter_async_context(open_telemetry(telemetry_config, args.broker or ""))
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
        lead = lead_s(config.analyzer.interval_ms, config.session.lead_intervals)
        session = build_session(
            config, CommandWorkload(argv, args.loadgen_logs, lead),
            out_root=args.out or Path(config.session.out_dir), label=args.label, say=say,
            observers=[*observers, tracker], repeat=args.repeat, reuse_ranging=args.reuse_ranging,
        )
        report = await session.run()
        if session.record_error is not None:  # measured and kept; the lab's store did not take it
            raise ReportError(session.record_error)
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
