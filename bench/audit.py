"""audit: a whole round's power results (hundreds of runs) in under a minute on two cores.

Builds a synthetic submission tree by copying the six real runs under
tests/fixtures/real-submissions/ (public MLCommons results) into
``closed/Org<k>/results/<system>/<model>/<scenario>/performance/`` N/6 times over, then times
``power-director audit TREE --jobs 2`` (in process: ``reports.build.audit.audit_tree``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure
from reports.build.audit import audit_tree

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real-submissions"
TARGET_S = 60.0


def build_tree(root: Path, runs: int) -> Path:
    """``runs`` power runs: the six fixtures copied round-robin, each at its original path."""
    sources = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    for k in range(runs):
        source = sources[k % len(sources)]
        original = re.search(r"original path: (\S+)/\{", (source / "SOURCE.txt").read_text())
        assert original is not None, source
        parts = Path(original.group(1)).parts  # closed/<org>/results/<system>/<model>/<scenario>/performance
        dest = root.joinpath(parts[0], f"{parts[1]}{k // len(sources)}", *parts[2:])
        for sub in ("power", "ranging", "run_1"):
            shutil.copytree(source / sub, dest / sub)
    return root


def measure(runs: int, jobs: int) -> tuple[float, int, int]:
    """(seconds, runs found, runs unreadable) for an audit of a tree of ``runs`` runs."""
    with tempfile.TemporaryDirectory(prefix="pd-audit-") as tmp:
        tree = build_tree(Path(tmp), runs)
        start = time.perf_counter()
        rows = audit_tree(tree, ["current"], jobs)
        elapsed = time.perf_counter() - start
    return elapsed, len(rows), sum("failed" in row for row in rows)


def run(full: bool = False) -> list[Figure]:
    runs = 600 if full else 300
    elapsed, found, failed = measure(runs, 2)
    return [Figure(f"audit of a {found}-run submission tree, 2 processes ({failed} unreadable)",
                   f"{elapsed:.1f} s", f"< {TARGET_S:.0f} s", elapsed < TARGET_S and failed == 0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    elapsed, found, failed = measure(args.runs, args.jobs)
    print(f"audit: {found} runs ({failed} unreadable) in {elapsed:.1f} s with {args.jobs} processes "
          f"({found / elapsed:.1f} runs/s; target < {TARGET_S:.0f} s)")
    return 0 if elapsed < TARGET_S and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
