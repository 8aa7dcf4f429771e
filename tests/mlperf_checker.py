"""Running MLCommons' power checker, unmodified, from a power-dev checkout named by POWER_DEV_DIR.

CI has no checkout: tests that need one are skipped with that reason, and the rules are
restated in ``reports/mlperf/mlcommons_checker.py`` (adapted for tests in ``tests/mlperf_rules.py``)
so they always run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: The checker commit the rules were read at (power-dev compliance/check.py, byte-identical
#: to mlcommons/inference tools/submission/power/power_checker.py at b66003e1).
CHECKER_COMMIT = "c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2"
SOURCE_RULES = {"Check client sources checksum", "Check server sources checksum"}
ALL_RULES = {
    *SOURCE_RULES, "Check PTD commands and replies", "Check UUID", "Check session name",
    "Check time difference", "Check client server messages", "Check results checksum",
    "Check errors and warnings from PTD logs", "Check PTD configuration",
    "Check debug is disabled on server-side",
}


def power_dev_dir() -> Path:
    """The checkout, or skip: set POWER_DEV_DIR to a power-dev clone (commit above)."""
    root = os.environ.get("POWER_DEV_DIR", "")
    if not root or not (Path(root) / "compliance" / "check.py").is_file():
        pytest.skip("MLCommons' checker needs POWER_DEV_DIR=<a mlcommons/power-dev checkout at "
                    f"{CHECKER_COMMIT[:12]}> (compliance/check.py); none given")
    return Path(root)


def run_checker(session_dir: Path) -> dict[str, bool]:
    """Each rule's verdict from the checker's own log lines (``[x]`` passed, ``[ ]`` failed)."""
    checker = power_dev_dir() / "compliance" / "check.py"
    done = subprocess.run([sys.executable, "-B", str(checker), str(session_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    verdicts = {m.group(2): m.group(1) == "x"
                for m in re.finditer(r"\[(x| )\] (.+)$", done.stderr, re.MULTILINE)}
    assert verdicts.keys() == ALL_RULES, done.stderr[-3000:]
    return verdicts


def checker_statuses(session_dir: Path) -> dict[str, str]:
    """Each rule as the checker logs it: ``pass`` (INFO [x]), ``warning`` (WARNING [x]: a
    CheckerWarning), ``fail`` ([ ])."""
    checker = power_dev_dir() / "compliance" / "check.py"
    done = subprocess.run([sys.executable, "-B", str(checker), str(session_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    logged = re.finditer(r"^(INFO|WARNING|ERROR):main:\[(x| )\] (.+)$", done.stderr, re.MULTILINE)
    level = {"INFO": "pass", "WARNING": "warning", "ERROR": "fail"}
    statuses = {m.group(3): "fail" if m.group(2) == " " else level[m.group(1)] for m in logged}
    assert statuses.keys() == ALL_RULES, done.stderr[-3000:]
    return statuses


def failed_rules(session_dir: Path) -> set[str]:
    return {rule for rule, passed in run_checker(session_dir).items() if not passed}
