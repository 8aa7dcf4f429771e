"""The command line's MLPerf-submission handlers (their arguments are in ``cli/parser.py``):
``submission``, ``--power-dev-conf`` (power-dev's server.conf, read unchanged), ``--power-dev``
(engine mode: power-dev's own server.py/client.py measure) and ``sources-checksums`` (this
release's hashes in the format of power-dev's compliance/sources_checksums.json)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from power_director.cli.interrupt import SessionTracker
from power_director.config.loader import Config, ConfigError, load_config
from power_director.config.power_dev import apply_power_dev_conf, read_power_dev_conf
from power_director.session.power_dev_engine import EngineOptions, run_engine, serve_engine
from reports.mlperf.layout import release_checksums
from reports.mlperf.submission import Placement, lay_out
from reports.model.report import SessionReport
from reports.render.summary import summary_text


def submission(args: argparse.Namespace, tracker: SessionTracker) -> int:
    place = Placement(args.submitter, args.system, args.model, args.division)
    target = lay_out(args.session_dir, place, args.tree, allow_invalid=args.allow_invalid)
    print(f"{args.session_dir.name}: laid out in {target} (fill in power_settings.md's system part)")
    return 0


def sources_checksums(args: argparse.Namespace, tracker: SessionTracker) -> int:
    print(json.dumps([release_checksums()], indent=4))
    return 0


def load_run_config(args: argparse.Namespace, service: bool = False) -> Config:
    """``--config`` (or the defaults), with ``--power-dev-conf``'s PTDaemon(s) as the meters;
    in engine mode power-dev's server reads server.conf itself."""
    if args.config is None and args.power_dev_conf is None:
        raise ConfigError("give --config FILE, --power-dev-conf SERVER_CONF, or both")
    config = load_config(args.config) if args.config is not None else Config().validate()
    if args.power_dev_conf is not None and getattr(args, "power_dev", None) is None:
        config = apply_power_dev_conf(config, read_power_dev_conf(args.power_dev_conf), service=service)
    return config


async def run_power_dev_engine(args: argparse.Namespace, config: Config, workload: list[str], out_root: Path,
                               say: Callable[[str], None]) -> SessionReport:
    options = EngineOptions(args.power_dev, args.power_dev_conf, args.ntp, args.loadgen_logs)
    session_dir, report = await run_engine(config, options, workload, out_root=out_root,
                                           label=args.label or config.session.label, say=say)
    if not args.json:
        print(summary_text(report))
        print(f"  files: {session_dir}")
    return report


async def serve_power_dev_engine(args: argparse.Namespace, config: Config) -> int:
    options = EngineOptions(args.power_dev, args.power_dev_conf, args.ntp)
    return await serve_engine(config, options, out_root=Path(config.session.out_dir), say=print)
