"""How long the command line takes to answer ``--version`` and ``--help``: the installed
``power-director`` script as a fresh process each time, best and median of N (default 10), and
which of our heavy dependencies the answer imported (none should be).

    python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, figure_table

TARGETS_S = {"--version": 0.3, "--help": 0.5}
HEAVY = ("numpy", "pandas", "matplotlib", "aiomqtt", "pyvisa", "pysnmp", "asyncio")


def _command() -> list[str]:
    script = shutil.which("power-director", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "power_director.cli"]


def _times_s(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def _heavy_imports(option: str) -> list[str]:
    """The heavy modules loaded by the time the answer is printed (run in-process, once)."""
    probe = ("import sys\nfrom power_director.cli.app import main\n"
             f"try:\n    main([{option!r}])\nexcept SystemExit:\n    pass\n"
             f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY:"))
    return [name for name in line.removeprefix("HEAVY:").split(",") if name]


def run(full: bool, runs: int = 10) -> list[Figure]:
    figures = []
    for option, target_s in TARGETS_S.items():
        times = _times_s([*_command(), option], runs * (3 if full else 1))
        best, median = min(times), statistics.median(times)
        heavy = _heavy_imports(option)
        figures.append(Figure(
            f"power-director {option}: best / median of {len(times)}, heavy imports",
            f"{best:.3f} s / {median:.3f} s, {', '.join(heavy) or 'none'}",
            f"< {target_s} s", median < target_s and not heavy,
        ))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per option")
    args = parser.parse_args()
    figures = run(False, args.runs)
    print(figure_table(figures))
    return 0 if all(f.met for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
