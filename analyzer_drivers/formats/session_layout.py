"""The session directory's layout: its files' names, the phase directories, ``session.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_meta import SessionMeta

PHASE_DIRS = {"ranging": "ranging", "testing": "run_1"}
SESSION_META = "session.json"
REPORT_JSON = "report.json"
RAW_DIR = "raw"  # the journal: one samples file per analyzer, and the events
SAMPLES_SUFFIX = ".samples.txt"
EVENTS_FILE = "events.jsonl"  # the journal's events, in RAW_DIR
ALIVE_FILE = "alive"  # raw/: when the director was last seen (ns), stamped each second
REPEAT_PHASE = re.compile(r"testing_([2-9]|[1-9]\d+)")


def repeat_phase(run: int) -> str:
    """The phase name of testing run ``run`` (1-based): ``testing``, ``testing_2``, …"""
    return "testing" if run == 1 else f"testing_{run}"


def phase_dir(phase: str) -> str:
    """The directory of a phase: ``ranging``, ``run_1`` for testing, ``run_k`` for testing_k."""
    if phase in PHASE_DIRS:
        return PHASE_DIRS[phase]
    match = REPEAT_PHASE.fullmatch(phase)
    if match is None:
        raise ReportError(f"unknown phase {phase!r}")
    return f"run_{match.group(1)}"


def read_session_meta(session_dir: Path) -> SessionMeta:
    """The session's ``session.json``; an empty ``SessionMeta`` when there is none."""
    path = session_dir / SESSION_META
    if not path.is_file():
        return SessionMeta()
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    return SessionMeta.from_json(meta, str(path))


def samples_path(raw_dir: Path, analyzer_name: str) -> Path:
    """One analyzer's journalled samples (PTD sample lines, every phase's mark)."""
    return raw_dir / f"{analyzer_name}{SAMPLES_SUFFIX}"


def raw_sample_paths(session_dir: Path) -> list[Path]:
    """Every analyzer's samples file of a session, by name."""
    return sorted((session_dir / RAW_DIR).glob(f"*{SAMPLES_SUFFIX}"))


def analyzer_of(samples_file: Path) -> str:
    """The analyzer (driver) name a samples file belongs to."""
    return samples_file.name.removesuffix(SAMPLES_SUFFIX)


def events_path(session_dir: Path) -> Path:
    return session_dir / RAW_DIR / EVENTS_FILE
