"""Every bench in one table: each figure next to its target.

    python bench/run_all.py [--full] [--only NAME ...]

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, all_met, figure_table

BENCHES = [
    "analysis", "ingest", "session_overhead", "clock_alignment", "edge_error", "agent_overhead", "audit",
    "results_store", "fleet",
]


def run_bench(name: str, full: bool) -> list[Figure]:
    started = time.monotonic()
    try:
        figures: list[Figure] = importlib.import_module(f"bench.{name}").run(full)
    except Exception as exc:  # one broken bench must not hide the others' figures
        return [Figure(name, f"failed: {type(exc).__name__}: {exc}", met=False)]
    print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the larger sizes of every bench")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=BENCHES)
    args = parser.parse_args()
    figures = [figure for name in args.only for figure in run_bench(name, args.full)]
    print(figure_table(figures))
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
