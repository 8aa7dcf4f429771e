"""Each injectable analyzer fault × each phase, through ``bench/fault_matrix.py`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer_drivers.sim.ptd_server import DATA_FAULTS, FAULTS, PROTOCOL_FAULTS, Fault

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "fault_matrix.py"


@pytest.fixture(scope="module")
def matrix() -> dict[tuple[str, str], dict[str, object]]:
    result = subprocess.run([sys.executable, str(SCRIPT), "--json", "--seconds", "0.5"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return {(row["fault"], row["phase"]): row for row in json.loads(result.stdout)}


def test_every_fault_in_every_phase_was_run(matrix: dict[tuple[str, str], dict[str, object]]) -> None:
    assert set(matrix) == {(kind, phase) for kind in FAULTS for phase in ("ranging", "testing")}


@pytest.mark.parametrize("phase", ["ranging", "testing"])
@pytest.mark.parametrize("kind", FAULTS)
def test_session_survives_and_keeps_every_sent_sample(
    matrix: dict[tuple[str, str], dict[str, object]], kind: str, phase: str
) -> None:
    row = matrix[(kind, phase)]
    assert row["outcome"] in ("valid", "invalid"), row  # finished with a report, not aborted
    assert row["sent"] and row["kept"] == row["sent"], row
    flags = row["flags"]
    assert isinstance(flags, list)
    if kind in PROTOCOL_FAULTS:
        assert row["reconnects"] == 1 and "analyzer_reconnects" in flags, row
        assert row["restarted"] == (kind == "restart"), row
    if kind in ("drop", "hang", "garbage", "partial"):
        assert row["outcome"] == "valid", row  # the daemon buffered through the outage: no gap
    if kind == "restart" or kind in DATA_FAULTS:
        assert row["outcome"] == "invalid", row  # a gap or spoiled samples: the report says so
    if kind in ("restart", "sentinels", "clock-jump", "wrong-rate"):
        assert f"{phase}_sample_coverage" in flags, row


def test_fault_parsing() -> None:
    assert Fault.parse("drop@testing") == Fault("drop", "testing")
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("meteor")
