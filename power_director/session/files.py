"""A session's derived files (each phase's ``spl.txt``, ``power/``) from its raw records,
and its provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import shutil
import socket
import sys
import uuid
from pathlib import Path

from analyzer_drivers.base import Analyzer, AnalyzerInfo
from analyzer_drivers.formats.session_layout import (
    RAW_DIR,
    phase_dir,
    samples_path,
)
from analyzer_drivers.formats.session_meta import (
    AnalyzerRecord,
    SessionMeta,
    SystemLayout,
    Uuids,
)
from analyzer_drivers.formats.timefmt import NS_PER_MS
from power_director.config.loader import Config
from power_director.config.system_name import system_under_test
from power_director.session.journal import write_merged_spl, write_phase_spls
from power_director.session.ranging import SessionError
from reports.mlperf.layout import write_power_dir
from reports.spl import PowerSeries, mapped_samples, read_spl
from reports.version import tool_version


def rebuild_session_files(session_dir: Path, meta: SessionMeta) -> None:
    """Derive every file from the raw records: each phase's ``spl.txt`` and ``power/``.

    With ``sum`` analyzers (several supplies), ``spl.txt`` holds multichannel lines: the
    time-merged sum, then each meter as a channel. Each raw samples file is read once.
    """
    driver = meta.primary.driver
    raw = session_dir / RAW_DIR
    if not driver or not samples_path(raw, driver).is_file():
        write_power_dir(session_dir, meta)
        return
    spl_paths = [(str(recorded.mark), session_dir / phase_dir(phase) / "spl.txt")
                 for phase, recorded in meta.phases.items() if recorded.mark]
    with mapped_samples(samples_path(raw, driver)) as primary:
        summed = _summed_meters(raw, meta) if spl_paths else []
        if summed:
            primary_ns = meta.sampling_ms * NS_PER_MS
            for mark, spl in spl_paths:
                write_merged_spl([(primary.series, primary_ns), *summed], mark, spl)
        elif spl_paths:
            write_phase_spls(primary.text_lines(), spl_paths)
        write_power_dir(session_dir, meta, primary.series)


def _summed_meters(raw: Path, meta: SessionMeta) -> list[tuple[PowerSeries, int]]:
    """The ``sum`` analyzers' samples, each file read once, with their sampling intervals (ns)."""
    return [(read_spl(samples_path(raw, str(a.driver))),
             (a.interval_ms if a.interval_ms is not None else meta.sampling_ms) * NS_PER_MS)
            for a in meta.analyzers if a.role == "sum"]


def describe_analyzer(
    analyzer: Analyzer, info: AnalyzerInfo, role: str, interval_ms: int, config: Config
) -> AnalyzerRecord:
    """One meter in ``session.json``: what it said it is, its role and interval; the primary
    also its serial, firmware and calibration date (from the config, else from Identify)."""
    described = AnalyzerRecord.new(
        name=info.name, model=info.model, version=info.version,
        identify=info.raw, averaging_ms=info.averaging_ms, driver=analyzer.name,
        role=role, interval_ms=interval_ms,
    )
    if (accuracy := analyzer.comparison_accuracy()) is not None:
        described = described.updated(comparison_accuracy=accuracy)
    if info.extra:
        described = described.updated(extra=dict(info.extra))
    if analyzer.calibration:
        described = described.updated(calibration=analyzer.calibration)
    if role == "primary":  # as the driver read its meter's own identify reply
        identity = info.identity
        described = described.updated(
            vendor=identity.manufacturer, serial=config.analyzer.serial or identity.serial,
            firmware=identity.firmware,
            calibration_date=config.analyzer.calibration_date or identity.calibration_date,
        )
    return described


def new_session_meta(config: Config, name: str, label: str, workload: str) -> SessionMeta:
    """A session's ``session.json`` as it starts: running, its config's settings and provenance,
    fresh UUIDs, the config's multi-node layout."""
    meta = SessionMeta.new(
        session_name=name, label=label, status="running", interval_ms=config.analyzer.interval_ms,
        settle_s=config.session.settle_s, workload=workload, **provenance(config),
        uuid=Uuids.new(client=str(uuid.uuid4()), server=str(uuid.uuid4())),
        ranges={}, phases={}, analyzers=(),
    )
    if config.system is not None:
        meta = meta.updated(system=SystemLayout.from_json(config.system.describe(), "[system]"))
    if config.session.machine_nodes:
        meta = meta.updated(machine_nodes=config.session.machine_nodes)
    return meta


def provenance(config: Config) -> dict[str, str]:
    """Where a session came from: tool version, host, command line and a hash of the config."""
    config_json = json.dumps(config.settings(), sort_keys=True, default=str)
    return {
        "tool_version": tool_version(), "host": socket.gethostname(),
        "command": shlex.join(sys.argv), "config_hash": hashlib.sha256(config_json.encode()).hexdigest()[:16],
        **system_under_test(config.session.system),  # a remote SUT's service says its host
    }




def make_session_dirs(session_dir: Path, phase_dirs: list[str]) -> list[Path]:
    """The session directory with its phases', ``power/`` and ``raw/``; the output directories
    above it that this made (removed again with an empty session). SessionError when it cannot."""
    made = missing_parents(session_dir)
    try:
        for sub in dict.fromkeys((*phase_dirs, "power", RAW_DIR)):
            (session_dir / sub).mkdir(parents=True)
    except OSError as exc:
        raise SessionError(f"cannot create the session directory under {session_dir.parent}: "
                           f"{exc.strerror or exc}") from None
    return made


def remove_session_dir(session_dir: Path, made: list[Path]) -> None:
    """A session that measured nothing leaves nothing: its directory, and the output directories
    it made while they are empty."""
    shutil.rmtree(session_dir, ignore_errors=True)
    for parent in made:
        with contextlib.suppress(OSError):
            parent.rmdir()  # only while empty


def missing_parents(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing
