"""Runs whose analyzer stamps are local time while server.json's phases are UTC.

The case is the v1.0 NVIDIA A100-PCIex8 3d-unet Offline run (mlcommons/inference_results_v1.0
cd4f7a9b, closed/NVIDIA/results/A100-PCIex8_TRT_MaxQ/3d-unet-99/Offline/performance/power/:
client.json ``timezone`` 28800 and phases at 14:15 UTC, ptd_logs.txt stamped 07:15, UTC−7 in
daylight-saving March). It is not among our fixtures, so it is rebuilt here from the real v3.0
Dell XR5610 run (tests/fixtures/real-submissions/, UTC stamps, ``timezone`` 0): spl.txt's stamps
moved 7 h back, server.json's ``timezone`` set to 28800, and both descriptors' result checksums
recomputed for the new spl.txt, as a run written that way would have them.

MLCommons' checker (power-dev compliance/check.py c4b3ad82, run unmodified when POWER_DEV_DIR
is set, restated in tests/mlperf_rules.py always) gives the rebuilt run the verdicts it gives
the original: its time rule reads no spl.txt stamp against the phases, and its power-drop
rule averages no sample in either phase (-1 W against -1 W: a 0 % drop).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests import mlperf_rules
from tests.mlperf_checker import failed_rules
from tests.test_import_evidence import FIXTURES, SS_RUN, copy_run, report, shift_stamps


def local_time_run(tmp_path: Path, shift_s: int, timezone_s: int) -> Path:
    run = copy_run(tmp_path, SS_RUN)
    for sub in ("ranging", "run_1"):
        shift_stamps(run / sub / "spl.txt", shift_s)
    for name in ("client.json", "server.json"):
        path = run / "power" / name
        descriptor = json.loads(path.read_text())
        for result in descriptor["results"]:
            if result.endswith("spl.txt"):
                descriptor["results"][result] = hashlib.sha1((run / result).read_bytes()).hexdigest()
        if name == "server.json":
            descriptor["timezone"] = timezone_s
        path.write_text(json.dumps(descriptor, indent=4))
    return run


@pytest.mark.parametrize(("shift_s", "timezone_s", "told"), [
    (-7 * 3600, 28800, "the timezone 28800 s less its daylight-saving hour"),
    (-8 * 3600, 28800, "as the timezone 28800 s says"),
    (-3 * 3600, 0, "though the timezone says 0 s"),
])
def test_local_stamps_are_corrected_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shift_s: int, timezone_s: int, told: str
) -> None:
    original = report(capsys, FIXTURES / SS_RUN, "--rules", "v3.0")
    run = local_time_run(tmp_path, shift_s, timezone_s)
    local = report(capsys, run, "--rules", "v3.0")
    assert local["valid"] and local["problems"] == []  # the v3.0 checker published it
    assert local["power"]["energy_per_query_mj"] == original["power"]["energy_per_query_mj"]
    assert local["imported"]["stamp_shift_s"]["testing"] == [0, -shift_s]
    notes = [n for n in local["notes"] if "spl.txt's stamps are local time" in n]
    hours = f"{-shift_s // 3600} h behind UTC"
    assert len(notes) == 2 and all(hours in n and told in n and f"corrected by {-shift_s:+d} s" in n
                                   for n in notes), local["notes"]
    # Today's submission checker reads spl.txt as UTC: no sample in the window, no number.
    assert local["checker"]["current"]["value"] is None and local["checker"]["current"]["samples"] == 0
    assert any("finds no sample inside the LoadGen window" in n for n in local["notes"])
    # Today's rules: the same verdict as the original run, for the same reasons.
    current, original_current = report(capsys, run), report(capsys, FIXTURES / SS_RUN)
    assert current["valid"] == original_current["valid"]
    assert current["problems"] == original_current["problems"]


def test_the_checker_gives_the_local_time_run_the_originals_verdicts(tmp_path: Path) -> None:
    run = local_time_run(tmp_path, -7 * 3600, 28800)
    for rule in ("Check time difference", "Check results checksum"):
        mlperf_rules.RULES[rule](run)  # restated: passes, as for the original
    assert failed_rules(run) == failed_rules(FIXTURES / SS_RUN)  # skipped without POWER_DEV_DIR
