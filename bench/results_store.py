"""The results index over many sessions: build it, query it, compare from it.

    python bench/results_store.py [--sessions N]

Writes N synthetic sessions (``report.json`` and ``session.json`` of the real shape, about
the real size) into a temporary directory, then times: building the index from nothing,
a filtered query after a sync (nothing changed), and ``compare`` of every session of the
directory (index sync, then each ``report.json`` read and tabulated), in-process, best of 3.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure
from power_director.cli.parser import build_parser
from power_director.cli.results import run_compare
from reports.store.sqlite import INDEX_FILE, Query, SqliteStore

TARGET_S = 1.0
SCENARIOS = ("Offline", "SingleStream", "Server", "MultiStream")
METERS = ("WT310", "WT333E", "SIM")


def _power(rng: random.Random, watts: float) -> dict[str, object]:
    return {
        "avg_watts": watts, "samples_in_window": 600, "window_begin": "11-29-2026 10:00:00.000",
        "window_end": "11-29-2026 10:10:00.000", "duration_s": 600.0, "energy_j": watts * 600,
        "energy_per_query_mj": watts * 600_000 / 24_000, "queries": 24_000,
        "time_weighted": {"energy_j": watts * 600.2, "avg_watts": watts, "covered_s": 600.0, "gap_s": 0.0,
                          "longest_gap_s": 0.0, "gap_count": 0, "invalid_samples": 0},
        "coverage": {"expected_samples": 600.0, "received_samples": 600, "fraction": 1.0},
        "uncertainty": {"watts": watts * 0.004, "relative": 0.004 + rng.random() / 1000,
                        "terms_watts": {"analyzer": 0.5, "window_edges": 0.1, "clock_alignment": 0.01}},
    }


def write_sessions(root: Path, count: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(count):
        scenario, meter = SCENARIOS[i % 4], METERS[i % 3]
        name = f"2026-{1 + i // 600 % 12:02d}-{1 + i // 24 % 28:02d}_{i % 24:02d}-00-00_model{i % 7}-{i:04d}"
        session = root / name
        session.mkdir()
        watts = 150 + 100 * rng.random()
        start = 1_790_000_000 + 3600 * i
        meta = {"session_name": name, "label": f"model{i % 7}-{i:04d}", "status": "completed",
                "interval_ms": 1000, "workload": f"python bench_{i % 5}.py", "host": f"sut-{i % 9}",
                "tool_version": "0.1.0", "config_hash": f"{rng.getrandbits(64):016x}",
                "analyzer": {"name": "Yokogawa", "model": meter, "driver": "ptd-10.0.0.5-8888"},
                "phases": {"ranging": {"times": [[start, 0.0]]}, "testing": {"times": [[start + 700, 0.0]]}}}
        checks = [{"name": f"check_{k}", "status": "pass", "reason": "fine " * 8} for k in range(22)]
        report = {"session": name, "label": meta["label"], "scenario": scenario, "valid": i % 10 != 0,
                  "mlperf_valid": i % 10 > 1, "problems": ["coverage 90 %"] if i % 10 == 0 else [],
                  "warnings": [], "checks": checks, "power": _power(rng, watts),
                  "uncertainty": {"relative": 0.004}, "tool_version": "0.1.0",
                  "efficiency": {"samples_per_second_per_watt": 3000 / watts},
                  "testing": {"power": _power(rng, watts)}, "ranging": {"power": _power(rng, watts)},
                  "analyzer": meta["analyzer"], "ranges": {"testing": {"volts": 300, "amps": 2}}}
        (session / "session.json").write_text(json.dumps(meta, indent=2))
        (session / "report.json").write_text(json.dumps(report, indent=2))


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(count: int) -> tuple[float, float, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_sessions(root, count)

        def build() -> None:
            (root / INDEX_FILE).unlink(missing_ok=True)
            with SqliteStore.at(root) as store:
                store.sync(root)

        build_s = best_of(3, build)
        query = Query(scenario="offline", meter="wt310")
        found: list[object] = []

        def query_once() -> None:
            with SqliteStore.at(root) as store:
                store.sync(root)
                found[:] = store.query(query)

        query_s = best_of(3, query_once)
        args = build_parser().parse_args(["compare", str(root)])

        def compare() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                run_compare(args)

        compare_s = best_of(3, compare)
        return build_s, query_s, len(found), compare_s


def run(full: bool = False) -> list[Figure]:
    count = 10_000 if full else 1000
    build_s, query_s, found, compare_s = measure(count)
    target = f"< {TARGET_S:g} s"
    return [
        Figure(f"results index, {count:,} sessions: build from the directories", f"{build_s:.3f} s", target,
               build_s < TARGET_S),
        Figure(f"results index, {count:,} sessions: sync + query (Offline on WT310, {found} found)",
               f"{query_s:.3f} s", target, query_s < TARGET_S),
        Figure(f"compare over the {count:,} sessions of a directory (sync, read, tabulate)",
               f"{compare_s:.3f} s", target, compare_s < TARGET_S),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    build_s, query_s, found, compare_s = measure(args.sessions)
    print(f"| sessions | index build | sync + query ({found} found) | compare all |")
    print("|---|---|---|---|")
    print(f"| {args.sessions:,} | {build_s:.3f} s | {query_s:.3f} s | {compare_s:.3f} s |")
    return 0 if max(build_s, query_s, compare_s) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
