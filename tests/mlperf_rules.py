"""MLCommons' power checker's rules for tests: each raises AssertionError with the checker's
reason when the rule fails, so its rules run where the checker cannot (CI).

The restatement itself is the product's (reports/mlperf/mlcommons_checker.py: power-dev
compliance/check.py at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2, line by line, compared with
the real checker in tests/test_mlcommons_checker.py). A ``CheckerWarning`` passes, as the
checker logs it ``[x]``. One difference, on purpose: ``ptd_logs`` here judges the testing
window as the checker means it (TIME_DELTA_TOLERANCE of 800 ms), not as its code does (800
added to seconds, so a run under 1600 s is never failed for a sample over 1 %): our sessions
must pass the rule as meant. The two source-checksum rules are not restated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from reports.mlperf import mlcommons_checker as checker

mlperf_power_delta_ok = checker.power_drop_ok
MEANT_TOLERANCE_S = checker.TIME_DELTA_TOLERANCE / 1000


def _rule(check: Callable[[checker.Run], None]) -> Callable[[Path], None]:
    def rule(session: Path) -> None:
        with contextlib.suppress(checker.CheckerWarning):
            check(checker.load_run(session))

    rule.__name__ = check.__name__
    return rule


def _ptd_logs_as_meant(run: checker.Run) -> None:
    checker.ptd_logs(run, tolerance_s=MEANT_TOLERANCE_S)


RULES: dict[str, Callable[[Path], None]] = {
    name: _rule(_ptd_logs_as_meant if check is checker.ptd_logs else check)
    for name, check in checker.RULES.items()
}
ptd_logs = RULES["Check errors and warnings from PTD logs"]
