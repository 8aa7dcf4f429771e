"""The least a submission tree needs besides its power run for MLCommons' submission checker
(mlcommons/inference ``tools/submission/submission_checker`` at
b66003e10e2db4b8c36a448b0545ec90fcc6e9e9) to keep the result: a closed ``resnet`` Offline
result whose performance run is a real LoadGen run with the official settings, an accuracy
run, the system description and the files beside the result. None of it is about power: the
power run is the one ``power-director submission`` lays out.

Where each piece comes from (same commit):

- LoadGen settings: ``loadgen/mlperf.conf`` (``resnet50.Offline``: min_duration 600 s, the
  round's seeds; the checker's ``--version v6.1`` holds the same seeds), read by LoadGen itself;
  the performance sample count (1024) and the accuracy dataset (50000) from the checker's
  ``constants.py`` (MODEL_CONFIG v6.1 ``performance-sample-count``, ``accuracy-sample-count``).
- accuracy.txt: the checker's ``ACC_PATTERN["acc"]`` and the ``hash=`` line it requires
  (checks/accuracy_check.py); the value is the resnet target (76.46 %), not a measured one.
- the system description's fields: ``SYSTEM_DESC_REQUIRED_FIELDS`` and the sample in
  ``tools/submission/directory_structure_samples``; ``system_power_capacity`` stands in for the
  nameplate-power YAML (checks/system_check.py ``nameplate_power_check``).
- ``user.conf``/``README.md`` beside the result: ``REQUIRED_MEASURE_FILES``; measurements.json's
  fields: the sample's.

The LoadGen SUT completes each sample after ``sample_ms`` (one worker), so an Offline run at
``offline_expected_qps`` lasts about ``qps × 600 s × sample_ms``: a few seconds, which the
checker accepts (it checks the configured min_duration_ms, not the run's length).

``python -m tests.submission_scaffold loadgen --out DIR [--accuracy]`` runs the SUT (the
workload command of a power session).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

MODEL = "resnet"
LOADGEN_MODEL = "resnet50"  # mlperf.conf's name for it
SCENARIO = "Offline"
PERFORMANCE_SAMPLES = 1024
DATASET_SAMPLES = 50_000
ACCURACY_PERCENT = 76.46
SUBMITTER = "PowerDirector"
SYSTEM = "sim-wt330-multichannel"
CHECKER_VERSION = "v6.1"
#: The open division: the closed one also wants every required scenario of the model (edge
#: resnet: SingleStream, MultiStream, Offline) and the TEST01/TEST04 compliance runs, none of
#: them about power (the checker's --skip_compliance is parsed but not read at b66003e1).
DIVISION = "open"


def mlperf_conf() -> Path:
    root = Path(os.environ.get("MLPERF_INFERENCE_DIR", "/work/ext/inference"))
    return root / "loadgen" / "mlperf.conf"


def run_loadgen(out: Path, accuracy: bool, qps: float, sample_ms: float) -> None:
    import mlperf_loadgen as lg

    out.mkdir(parents=True, exist_ok=True)
    settings = lg.TestSettings()
    settings.FromConfig(str(mlperf_conf()), LOADGEN_MODEL, SCENARIO)
    settings.scenario = lg.TestScenario.Offline
    settings.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    settings.offline_expected_qps = qps

    def issue(samples: list[object]) -> None:
        for sample in samples:
            time.sleep(0 if accuracy else sample_ms / 1000)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, 0, 0)])  # type: ignore[attr-defined]

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(DATASET_SAMPLES, PERFORMANCE_SAMPLES, lambda _: None, lambda _: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


def system_description() -> dict[str, object]:
    fields: dict[str, object] = {
        "division": DIVISION, "submitter": SUBMITTER, "status": "available",
        "system_name": "power-director test bench (simulated WT330 multichannel)", "system_type": "edge",
        "number_of_nodes": 1, "host_processors_per_node": 1, "host_processor_core_count": 2,
        "accelerators_per_node": "0", "system_power_capacity": 300,
    }
    required = ("host_processor_model_name", "host_memory_capacity", "host_storage_capacity",
                "host_storage_type", "accelerator_model_name", "accelerator_memory_capacity", "framework",
                "operating_system", "other_software_stack", "host_processor_frequency",
                "host_processor_caches", "host_memory_configuration", "host_processor_interconnect",
                "host_networking", "host_networking_topology", "accelerator_frequency",
                "accelerator_host_interconnect", "accelerator_interconnect",
                "accelerator_interconnect_topology", "accelerator_memory_configuration",
                "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes",
                "host_network_card_count", "system_type_detail")
    return {**{name: "N/A" for name in required}, **fields}


def scaffold(tree: Path, accuracy_logs: Path) -> Path:
    """Everything but the power result into ``tree``; the scenario directory."""
    division = tree / DIVISION / SUBMITTER
    (division / "systems").mkdir(parents=True, exist_ok=True)
    (division / "systems" / f"{SYSTEM}.json").write_text(json.dumps(system_description(), indent=2))
    (division / "src").mkdir(exist_ok=True)
    (division / "src" / "README.md").write_text("The SUT: tests/submission_scaffold.py of power-director.\n")
    scenario = division / "results" / SYSTEM / MODEL / SCENARIO
    accuracy = scenario / "accuracy"
    accuracy.mkdir(parents=True, exist_ok=True)
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        (accuracy / name).write_bytes((accuracy_logs / name).read_bytes())
    # The checker wants the accuracy log truncated (MAX_ACCURACY_LOG_SIZE, 10 KiB) and the
    # full log's sha256 in accuracy.txt, as tools/submission/truncate_accuracy_log.py leaves them.
    full = (accuracy_logs / "mlperf_log_accuracy.json").read_bytes()
    digest = hashlib.sha256(full).hexdigest()
    (accuracy / "mlperf_log_accuracy.json").write_text(json.dumps(json.loads(full)[:20], indent=1))
    (accuracy / "accuracy.txt").write_text(
        f"accuracy={ACCURACY_PERCENT:.3f}%, good={int(DATASET_SAMPLES * ACCURACY_PERCENT / 100)}, "
        f"total={DATASET_SAMPLES}\nhash={digest}\n")
    (scenario / "user.conf").write_text(f"{LOADGEN_MODEL}.{SCENARIO}.target_qps = 10\n")
    (scenario / "README.md").write_text("python -m tests.submission_scaffold loadgen --out DIR\n")
    (scenario / "measurements.json").write_text(json.dumps({
        "input_data_types": "fp32", "retraining": "No", "starting_weights_filename": "none (a timed sleep)",
        "weight_data_types": "fp32", "weight_transformations": "none"}, indent=2))
    return scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=("loadgen",))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("POWER_DIRECTOR_LOG_DIR", ".")))
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--qps", type=float, default=10.0)
    parser.add_argument("--sample-ms", type=float, default=0.2)
    args = parser.parse_args(argv)
    run_loadgen(args.out, args.accuracy, args.qps, args.sample_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
