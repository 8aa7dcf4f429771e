"""SUT-side faults: each ends in one clear line and a non-zero exit, with the measured data kept."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_cli import one_line_error, ptd_sim, write_config  # noqa: F401 (a fixture)

# A workload that writes a LoadGen detail log of its own making, @NOW@ and @SOON@ (now + 50 ms)
# filled in as LoadGen stamps.
FAKE = """
import os, sys, time
from pathlib import Path
from analyzer_drivers.formats.timefmt import format_mlperf_time
now = time.time_ns()
time.sleep(0.3)
text = sys.argv[1].replace("@NOW@", format_mlperf_time(now))
text = text.replace("@SOON@", format_mlperf_time(now + 50_000_000))
Path(os.environ["POWER_DIRECTOR_LOG_DIR"], "mlperf_log_detail.txt").write_text(text)
"""


def mllog(key: str, value: object) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value}) + "\n"


SCENARIO = mllog("effective_scenario", "Offline")
BEGIN, END = mllog("power_begin", "@NOW@"), mllog("power_end", "@SOON@")
CASES = {
    "malformed": ("garbage that is not a LoadGen log\n\x01\xff", "holds no ':::MLLOG' entries"),
    "truncated": (SCENARIO + BEGIN + ':::MLLOG {"key": "power_en', "lacks power_end"),
    "no_power_begin": (SCENARIO + END, "lacks power_begin"),
    "too_short": (SCENARIO + BEGIN + END + mllog("effective_min_duration_ms", 1000),
                  "lasted 0.050 s, under LoadGen's minimum duration 1 s"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_loadgen_log_fails_the_phase(ptd_sim: int, tmp_path: Path, case: str) -> None:  # noqa: F811
    text, message = CASES[case]
    config = write_config(tmp_path, ptd_sim)
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--",
                     sys.executable, "-c", FAKE, text)
    line = one_line_error(result)
    assert message in line and "ranging phase" in line and "raw data kept" in line, line
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert json.loads((session / "session.json").read_text())["status"] == "aborted"
    assert next((session / "raw").glob("*.samples.txt")).read_text().count("\n") >= 1
    assert (session / "ranging" / "spl.txt").stat().st_size > 0
