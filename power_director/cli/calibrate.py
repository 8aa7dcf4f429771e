"""A meter's worth, after and before a run: ``calibrate`` (a beside meter's offset and gain
against a session's certified analyzer) and ``advise`` (can the configured meter meet an
uncertainty). Each is ``(args, tracker) -> exit status``."""

from __future__ import annotations

import argparse
import asyncio
import json

from analyzer_drivers.formats.session_layout import REPORT_JSON
from power_director.cli.interrupt import SessionTracker
from power_director.config.analyzers import make_analyzer
from power_director.config.calibration import calibration_from_report
from power_director.config.loader import ConfigError, load_config
from reports.advice import advise as advice_for
from reports.advice import facts_for
from reports.model.report import SessionReport


def calibrate(args: argparse.Namespace, tracker: SessionTracker) -> int:
    report = SessionReport.read(args.session / REPORT_JSON)
    calibration = calibration_from_report(report, args.meter)
    args.calibration_file.write_text(json.dumps(calibration.to_json(), indent=2) + "\n", encoding="utf-8")
    print(
        f"{calibration.meter}: offset {calibration.offset_watts or 0.0:+.2f} W, "
        f"gain {calibration.gain or 0.0:.4f}, "
        f"lag {calibration.lag_s or 0.0:.2f} s (from {calibration.from_session}) -> {args.calibration_file}"
    )
    return 0


def advise(args: argparse.Namespace, tracker: SessionTracker) -> int:
    return asyncio.run(_advise(args))


async def _advise(args: argparse.Namespace) -> int:
    config = load_config(args.config).analyzer
    if args.watts <= 0 or args.seconds <= 0 or args.target_pct <= 0:
        raise ConfigError("--watts, --seconds and --target-pct must be positive")
    accuracy = args.accuracy_pct / 100 if args.accuracy_pct is not None else None
    averaging_s = 0.0
    if config.describes_itself:
        async with make_analyzer(config) as meter:
            info = await meter.identify()
        averaging_s = info.averaging_ms / 1000
        if "stats_interval_min" in info.extra:  # DMTF Power schema: the window of Min/Max/Average only
            print(f"  PowerMetrics.IntervalInMin {info.extra['stats_interval_min']} min is the window of the "
                  "BMC's Min/Max/AverageConsumedWatts, not of the PowerConsumedWatts read here")
        if accuracy is None and "accuracy_pct" in info.extra:
            accuracy = float(info.extra["accuracy_pct"]) / 100
    facts = facts_for(
        config.type, averaging_s, config.interval_ms / 1000, accuracy, config.summed_rows()
    )
    advice = advice_for(facts, args.watts, args.seconds, args.target_pct / 100)
    for line in advice.lines:
        print(f"  {line}")
    return 0 if advice.can_meet else 1
