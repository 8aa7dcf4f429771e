"""The ``power/`` files MLCommons' tools read: server.json, client.json, their logs, ptd_logs.txt.

Written from the session's own records (``session.json`` and ``raw/events.jsonl``), so
``power-director report`` can rebuild them after a crash. All times are UTC, so the
``timezone`` field (seconds west of UTC of the logged times) is 0.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.json_record import dump
from analyzer_drivers.formats.session_layout import events_path
from analyzer_drivers.formats.session_meta import SessionMeta, Uuids
from analyzer_drivers.formats.timefmt import format_mlperf_time
from reports.mlperf.checks import MLPERF_DEVICE_TYPES
from reports.mlperf.ptd_logs import ptd_log_text
from reports.spl import PowerSeries

RESULT_FILES = (
    "power/client.log",
    "power/ptd_logs.txt",
    "power/server.log",
    "ranging/mlperf_log_detail.txt",
    "ranging/mlperf_log_summary.txt",
    "ranging/spl.txt",
    "run_1/mlperf_log_detail.txt",
    "run_1/mlperf_log_summary.txt",
    "run_1/spl.txt",
)
#: What power-dev's server hashes into server.json: the files it wrote itself. For a v3
#: session the client hashes its own (client.log, the LoadGen logs) into client.json, and
#: MLCommons' checker fails a file the two descriptors both list with different sums.
SERVER_RESULT_FILES = ("power/ptd_logs.txt", "power/server.log", "ranging/spl.txt", "run_1/spl.txt",
                       "run_1/ptd_out.txt")
PROTOCOL_VERSION = 3
SOURCE_PACKAGES = ("analyzer_drivers", "loadgen_bridge", "power_director", "reports")
MODULES = ("power-director", "numpy", "pandas", "mlcommons-loadgen")

#: PTDaemon device type numbers: the checker's, and WT1800/WT5000 that it refuses.
PTD_DEVICE_TYPES = {**MLPERF_DEVICE_TYPES, "YokogawaWT1800": 47, "YokogawaWT5000": 66}


def read_events(session_dir: Path) -> Iterator[dict[str, Any]]:
    """The journal's events; a torn last line (a crash mid-write) is skipped."""
    path = events_path(session_dir)
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                yield event


def _log_line(t_ns: int, message: str) -> str:
    return f"{format_mlperf_time(t_ns)}: {message}\n"


def _v3_messages(meta: SessionMeta) -> list[dict[str, Any]]:
    """The director↔SUT control sequence in MLCommons' v3 vocabulary.

    A remote v3 session records the real one; a local session is its own client and
    server, so its sequence is built from the phase times it recorded.
    """
    if meta.messages:
        return [dict(m) for m in meta.messages]  # the v3 protocol's own messages
    uuids = meta.uuid or Uuids()
    name = meta.session_name or ""
    first = meta.phase("ranging").times.began_s or 0.0

    def message(cmd: str, reply: str, t_s: float) -> dict[str, Any]:
        return {"cmd": cmd, "cmd_time": t_s, "reply": reply, "reply_time": t_s}

    messages = [
        message(f"mlcommons/power client v{PROTOCOL_VERSION}",
                f"mlcommons/power server v{PROTOCOL_VERSION}", first),
        message(f"new,{meta.label or ''},{uuids.client or ''}", f"OK {name},{uuids.server or ''}", first),
    ]
    for phase in ("ranging", "testing"):
        times = meta.phase(phase).times
        if times.analyzer_started_s is not None:
            messages.append(message(f"session,{name},start,{phase}", "OK", times.analyzer_started_s))
        if times.stopped_s is not None:
            messages.append(message(f"session,{name},stop,{phase}", "OK", times.stopped_s))
    if meta.status == "completed":
        messages.append(message(f"session,{name},done", "OK", messages[-1]["reply_time"]))
    return messages


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def source_checksums(base: Path, packages: tuple[str, ...] = ("",)) -> dict[str, str]:
    """sha1 of every ``.py`` file under ``base``'s packages, by "/"-joined path from ``base``,
    skipping __pycache__, .mypy_cache and .pytest_cache: power-dev's ``get_sources_checksum``
    (ptd_client_server/lib/source_hashes.py at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2), the
    ``sources`` its checker looks up in compliance/sources_checksums.json."""
    skip = {"__pycache__", ".mypy_cache", ".pytest_cache"}
    return dict(sorted(
        ("/".join(path.relative_to(base).parts), _sha1(path))
        for package in packages
        for path in (base / package).rglob("*.py")
        if not skip.intersection(path.relative_to(base).parts)
    ))


def release_checksums() -> dict[str, str]:
    """This release's ``sources``: what ``power-director sources-checksums`` prints."""
    return source_checksums(Path(__file__).resolve().parents[2], SOURCE_PACKAGES)


def _modules() -> dict[str, str]:
    versions = {}
    for module in MODULES:
        try:
            versions[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            versions[module] = "not installed"
    return versions


def identify_channels(identify: str) -> int:
    """The input count PTDaemon's Identify reports (``mode=power,<unc>,<ranges>,<channels>``)."""
    fields = identify.split(",")
    try:
        return int(fields[fields.index("mode=power") + 3])
    except (ValueError, IndexError):
        return 1


def _ptd_config(meta: SessionMeta) -> list[dict[str, Any]]:
    """One entry per ranged analyzer, as power-dev's server.json has since 2025 (a list: the
    checker's check_ptd_config iterates it). A PTDaemon the director started has power-dev's
    own entry, launch line included; for one it connected to, ``command`` is empty and
    ``channel`` is power-dev's [first, count] from Identify."""
    config = []
    for analyzer in meta.analyzers if meta.has("analyzers") else (meta.primary,):
        if analyzer.role == "beside":
            continue
        launched = (analyzer.extra or {}).get("ptd_config")
        if isinstance(launched, str):
            config.append(json.loads(launched))
            continue
        channels = identify_channels(analyzer.identify or "")
        config.append({
            "device_type": PTD_DEVICE_TYPES.get(analyzer.name or "", 0),
            "command": [],
            "channel": [1, channels] if channels > 1 else None,
            "driver": analyzer.driver,
        })
    return config


def _session_descriptor(meta: SessionMeta, results: dict[str, str]) -> dict[str, Any]:
    phases = meta.v3_phases or {phase: dump(meta.phase(phase).stamps) for phase in ("ranging", "testing")}
    return {
        "version": f"power-director {_modules()['power-director']}",
        "timezone": 0,
        "modules": _modules(),
        "sources": release_checksums(),
        "messages": _v3_messages(meta),
        "uuid": meta.uuid.to_json() if meta.uuid else {},
        "session_name": meta.session_name,
        "results": results,
        "phases": phases,
    }


def _text_log(events: list[dict[str, Any]], kinds: tuple[str, ...]) -> str:
    lines = []
    for event in events:
        if event.get("kind") not in kinds or event.get("cmd") == "RL":
            continue
        details = {k: v for k, v in event.items() if k not in ("t_ns", "kind")}
        lines.append(_log_line(int(event["t_ns"]), f"{event['kind']} {json.dumps(details, default=str)}"))
    return "".join(lines)


def _write_ptd_out(session_dir: Path, meta: SessionMeta, events: list[dict[str, Any]]) -> None:
    """``run_1/ptd_out.txt`` as power-dev's server writes it: the daemon's Watts and
    Uncertainty replies at the end of the testing run (lib/server.py, Session.stop)."""
    mark = meta.phase("testing").mark
    run_1 = session_dir / "run_1"
    if not mark or not run_1.is_dir():
        return
    replies: dict[str, str] = {}
    in_testing = False
    for event in events:
        cmd = str(event.get("cmd", ""))
        if event.get("kind") != "exchange":
            continue
        if cmd.startswith("Go,"):
            in_testing = cmd.endswith(f",{mark}")
        elif in_testing and cmd in ("Watts", "Uncertainty"):
            replies[cmd] = str(event.get("reply", ""))
    if replies:
        watts, uncertainty = replies.get("Watts", ""), replies.get("Uncertainty", "")
        text = f"Analyzer 1:\nPower: {watts} \nUncertainty: {uncertainty}\n"
        (run_1 / "ptd_out.txt").write_text(text, encoding="utf-8")


def write_power_dir(session_dir: Path, meta: SessionMeta, samples: PowerSeries | None = None) -> None:
    """Write ``power/``'s logs, then the two descriptors with the sha1 of every result file.
    ``samples``: the wall meter's raw samples when the caller has read them already."""
    power = session_dir / "power"
    power.mkdir(exist_ok=True)
    events = list(read_events(session_dir))
    (power / "ptd_logs.txt").write_text(ptd_log_text(session_dir, meta, events, samples), encoding="utf-8")
    (power / "server.log").write_text(
        _text_log(events, ("identified", "exchange", "phase_start", "phase_stop", "aborted")),
        encoding="utf-8",
    )
    (power / "client.log").write_text(
        _text_log(events, ("phase_start", "phase_stop", "workload", "aborted")), encoding="utf-8"
    )
    _write_ptd_out(session_dir, meta, events)
    results = {
        name: _sha1(session_dir / name) for name in RESULT_FILES if (session_dir / name).is_file()
    }
    client = _session_descriptor(meta, results)
    server_results = results
    if meta.v3_phases:
        server_results = {name: _sha1(session_dir / name) for name in SERVER_RESULT_FILES
                          if (session_dir / name).is_file()}
    server = {
        **client,
        "results": server_results,
        "ptd_messages": [
            {"cmd": e["cmd"], "reply": e["reply"]}
            for e in events
            # RL and RL,*,* (and the probe for it after Identify) are sample polls: MLCommons'
            # checker reads the initial ranges from the third message, RR's reply.
            if e.get("kind") == "exchange" and str(e.get("cmd", "")).split(",")[0] != "RL"
        ],
        "ptd_config": _ptd_config(meta),
        "debug": False,
    }
    for name, descriptor in (("client.json", client), ("server.json", server)):
        (power / name).write_text(json.dumps(descriptor, indent=2) + "\n", encoding="utf-8")
