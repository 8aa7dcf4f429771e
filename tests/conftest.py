"""Shared fixtures and helpers: a real LoadGen run, one demo run reused by several tests, a real
mosquitto broker, a loopback WT300 meter; the ``slow`` marker; how the suite is spread over
pytest-xdist's workers."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import pytest

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.scpi_server import Wt300Simulator
from loadgen_bridge.cpu_sut import CpuBenchmark, run_cpu_benchmark
from tests.mqtt_broker import Mosquitto

T = TypeVar("T")

CLI = [sys.executable, "-m", "power_director.cli"]

# The slow tests: marked ``slow``, so that ``python -m pytest -m "not slow"`` is a loop of under a
# minute on two cores (the full suite, CI's, runs them all). Chosen from ``--durations=0`` on the
# busy 2-core machine (2026-12-06, load 10-20): a test that took 3 s or more there, or that needs
# the shared demo run (``demo_run``, a whole ``power-director demo``). Whole modules first, longest
# first: under pytest-xdist a worker takes each at the start instead of one being left to run alone
# after the rest. Any order is correct. tests/test_slow_marker.py checks every entry names a test.
SLOW_MODULES = (
    "test_fault_matrix.py", "test_crossval.py", "test_snmp.py", "test_redfish.py", "test_mlcommons_layout.py",
    "test_lab.py", "test_fleet_rack.py", "test_results_postgres.py", "test_snmp_corpus.py", "test_cli.py",
    "test_redfish_corpus.py", "test_ipmi_dcmi.py", "test_measure.py", "test_datacenter_cli.py",
    "test_interrupt.py", "test_crash_recovery.py", "test_training_session.py", "test_system_name.py",
    "test_sut_faults.py", "test_plug_session.py", "test_cli_usability.py", "test_telemetry.py",
    "test_sim_default_power.py", "test_remote_e2e.py", "test_fleet_prometheus.py", "test_local_time_runs.py",
    "test_three_meters.py", "test_assembly.py", "test_session_tail.py", "test_service_load.py",
    "test_session_range_advice.py", "test_multi_analyzer.py", "test_fleet_split.py", "test_fleet_forgery.py",
    "test_fleet_recovery.py", "test_managed_ptd.py", "test_uncertainty_session.py", "test_plug_identity.py",
    "test_power_dev_client.py",
)
#: Slow tests in modules that are otherwise quick: ``module::function`` (every parametrization).
SLOW_TESTS = frozenset({
    "test_cli_names::test_old_spellings_are_in_no_help",
    "test_cli_names::test_an_old_spelling_still_runs_with_a_note",
    "test_facade::test_mypy_sees_measure_s_real_signature",  # runs mypy
    "test_recording::test_run_keeps_the_session_when_the_lab_store_refuses_it",
    "test_recording::test_a_serve_session_lands_in_the_lab_store",
    "test_compare::test_compare_rejects_a_directory_that_is_not_a_session",
    "test_config_errors::test_every_problem_is_reported_at_once_on_one_line",
    "test_config_errors::test_every_problem_of_one_section_is_listed",
    "test_config_errors::test_check_config_refuses_the_system_tables_run_refuses",
    "test_fleet_agent::test_meter_agent_command_with_a_bad_config_is_one_line",
    "test_fleet_agent::test_run_without_the_agent_is_a_one_line_error",
    "test_fleet_agent::test_tls_and_credentials",
    "test_fleet_agent::test_unreadable_credentials_are_one_line_errors",
    "test_fleet_auth::test_agent_gives_up_after_refused_logins_and_keeps_its_journal",
    "test_fuzz_fleet::test_decode_batch", "test_fuzz_fleet::test_decode_agent_batch",
    "test_fuzz_fleet::test_plugs_handle_any_message", "test_fuzz_fleet::test_verify",
    "test_fuzz_parsers::test_config", "test_fuzz_parsers::test_detail_log",
    "test_fuzz_parsers::test_identify_and_ranges", "test_fuzz_parsers::test_sample_line",
    "test_fuzz_parsers::test_spl_text", "test_fuzz_parsers::test_wire_message",
    "test_html_report::test_a_trace_with_gaps_and_sentinels_still_plots",
    "test_html_report::test_report_html_renders_in_headless_chromium",
    "test_import_evidence::test_error_readings_inside_testing",
    "test_import_evidence::test_local_time_stamps_with_timezone_are_read_as_utc",
    "test_mlcommons_checker::test_report_and_audit_show_the_column",
    "test_mlperf_import::test_audit_prints_one_row_per_run_and_reads_only",
    "test_mlperf_import::test_out_gets_the_report_and_the_run_stays_untouched",
    "test_mlperf_import::test_report_gives_the_checkers_number_and_changes_nothing",
    "test_mlperf_valid::test_short_session_says_why_not_mlperf_valid",
    "test_mlperf_valid::test_submission_tree",
    "test_mlperf_valid::test_submission_refuses_a_session_that_is_not_mlperf_valid",
    "test_multinode::test_local_meters_per_node_and_an_estimated_switch",
    "test_plug::test_offline_plug_leaves_a_gap_and_its_return_resumes_samples",
    "test_plug_payloads::test_the_driver_reads_every_simulated_form",
    # a whole session each (the engine_session ones only with POWER_DEV_DIR)
    "test_power_dev_engine::test_run_with_the_filled_template_gives_a_valid_session",
    "test_power_dev_engine::test_engine_session_passes_every_rule_of_mlcommons_checker",
    "test_power_dev_engine::test_engine_session_is_a_director_session",
    "test_power_dev_engine::test_submission_checker_keeps_the_result",
    "test_power_dev_engine::test_serve_runs_power_devs_server_for_its_clients",
    "test_power_dev_engine::test_an_interrupted_engine_run_stops_everything_and_keeps_the_output",
    "test_mlcommons_checker::test_restatement_says_what_the_real_checker_says",  # runs check.py each
    "test_ptd_ingest::test_bad_simulator_options_are_one_error_line",
    "test_ptd_ingest::test_multichannel_samples_reach_the_journal_and_spl",
    "test_ptd_ingest::test_parse_sample_lines_agrees_with_parse_sample_line",
    "test_ptd_ingest::test_stamps_parse_as_strptime_does",
    "test_ptd_real::test_a_multichannel_session_writes_mlperf_multichannel_spl_lines",
    "test_ptd_real::test_a_multichannel_session_meets_the_checkers_rules",
    "test_report_model::test_compare_on_a_malformed_report_json_says_which_key",
    "test_results_api::test_a_session_that_measured_nothing_leaves_no_directory",
    "test_results_api::test_index_lists_aborted_and_compare_skips_them",
    "test_results_api::test_parquet_export_reads_back_as_the_frame",
    "test_service::test_agent_disconnect_mid_phase_aborts_keeps_samples_and_frees_the_director",
    "test_service::test_director_vanishing_mid_phase_stops_the_agent_with_one_line",
    "test_service::test_in_process_api_runs_a_session_and_downloads_it",
    "test_service::test_tls_session",
    "test_session_meta::test_a_real_submissions_imported_meta_is_the_json_it_always_was",
    "test_session_meta::test_a_session_with_two_meters_repeats_and_reused_ranging_round_trips",
    "test_session_meta::test_the_cli_says_a_malformed_session_json_in_one_line",
    "test_spl_scan::test_blocks_and_bounds_change_nothing",
    "test_spl_scan::test_scanner_matches_the_per_line_definition",
    "test_spl_scan::test_the_strict_and_the_lenient_reader_agree_on_every_line_the_strict_one_takes",
    "test_structure::test_no_import_cycles_and_no_arrow_up",
    "test_structure::test_shared_types_are_imported_from_their_ground_floor_home",
    "test_structure::test_the_ground_floor_imports_nothing_of_ours",
    "test_v3_disconnect::test_disconnect_frees_the_director",
    "test_v3_disconnect::test_disconnect_releases_the_analyzer_without_waiting_out_the_settle",
    "test_wt300_family::test_every_family_member_connects_through_pyvisa_sim",
    "test_report_json_layer::test_a_measured_command_with_a_beside_meter_reads_back_byte_for_byte",
    "test_report_json_layer::test_a_real_runs_report_reads_back_byte_for_byte",
})
#: Session fixtures of ours that cost a whole run: a test that needs one is slow.
SLOW_FIXTURES = frozenset({"demo_run"})


def is_slow(item: pytest.Item) -> bool:
    name = getattr(item, "originalname", item.name)
    return (item.path.name in SLOW_MODULES or f"{item.path.stem}::{name}" in SLOW_TESTS
            or not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())))


#: Workers for the quick loop (``-m "not slow"``) when no ``-n`` is given: each pytest-xdist worker
#: imports and collects the whole suite (four cost about 25 s of CPU on two cores), and the quick
#: tests hardly wait, so two finish sooner than four (47 s against 77 s measured). The full suite's
#: tests mostly wait: it runs on six (pyproject.toml; docs/development.md#tests).
QUICK_LOOP_WORKERS = 2


#: Why a run under ``--dist loadgroup`` is refused with pytest 9.2 and pytest-xdist up to 3.8: xdist
#: groups a test by appending ``@<group>`` to its node id, which pytest 9.2's structured node ids
#: ignore. Every test would then run anywhere, each worker building the module fixtures again (the
#: fault matrix's three processes of sessions per worker) and the NTP tests of two modules, one UDP
#: port 123, side by side.
LOADGROUP_BROKEN = ("pytest-xdist <= 3.8 cannot group tests with pytest >= 9.2 "
                    "(pytest-dev/pytest-xdist#1386); pip install -e '.[test]' pins a pytest that can")


def _version(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", metadata.version(package))[:3])


def pytest_configure(config: pytest.Config) -> None:
    """The quick loop on QUICK_LOOP_WORKERS workers; an explicit ``-n`` wins. Runs before
    pytest-xdist's own ``pytest_configure`` (trylast), which starts the workers from ``tx``.
    Refuses a grouped run that would not be grouped (LOADGROUP_BROKEN)."""
    if getattr(config.option, "dist", "no") == "loadgroup" and getattr(config.option, "numprocesses", None) \
            and _version("pytest") >= (9, 2) and _version("pytest-xdist") <= (3, 8, 0):
        raise pytest.UsageError(LOADGROUP_BROKEN)
    explicit = any(arg.startswith(("-n", "--numprocesses")) for arg in config.invocation_params.args)
    if config.option.markexpr.strip() == "not slow" and not explicit \
            and getattr(config.option, "numprocesses", None):
        config.option.numprocesses = QUICK_LOOP_WORKERS
        config.option.tx = ["popen"] * QUICK_LOOP_WORKERS


def _xdist_group(item: pytest.Item) -> str | None:
    """The group a test shares a worker with: the tests of a fixture of ours that is built once per
    session (the demo runs once, not once per worker), or of a module with a module-scoped fixture;
    None for a test that can run anywhere."""
    info = getattr(item, "_fixtureinfo", None)
    defs = [d for ds in (info.name2fixturedefs.values() if info else ()) for d in ds]
    ours = [d for d in defs if getattr(d.func, "__module__", "").startswith("tests.")]
    shared = sorted(d.argname for d in ours if d.scope == "session")
    if shared:
        return str(shared[0])
    return item.path.name if any(d.scope in ("package", "module", "class") for d in ours) else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``slow`` marker (see SLOW_MODULES), groups for ``--dist loadgroup`` (see _xdist_group;
    without it they do nothing), and the slowest modules first."""
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)
        group = _xdist_group(item)
        # A module that names its own group keeps only that one: xdist joins every group name an
        # item carries, so the NTP tests of two modules (one UDP port 123) would run side by side.
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    rank = {name: i for i, name in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: modules stay in order


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a pytest-xdist worker under ``--dist loadgroup``: stop when xdist could not mark the groups
    (it appends ``@<group>`` to each grouped test's node id; see LOADGROUP_BROKEN)."""
    if not getattr(session.config.option, "loadgroup", False):  # set on the workers only
        return
    for item in session.items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and not item.nodeid.endswith("@" + "_".join(names)):
            pytest.exit(f"{item.nodeid} lost its xdist_group: {LOADGROUP_BROKEN}", returncode=4)


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def loadgen_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Detail logs written by the real LoadGen, one directory per scenario."""
    root = tmp_path_factory.mktemp("loadgen")
    dirs = {}
    for scenario in ("SingleStream", "Offline"):
        run_cpu_benchmark(CpuBenchmark(scenario, 1.0, accelerator=True), root / scenario)
        dirs[scenario] = root / scenario
    return dirs


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``power-director demo`` run once as a user would; its output and session root."""
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out), "--seconds", "2")
    return result, out


def session_dirs(root: Path) -> dict[str, Path]:
    """Session directories under ``root`` by label suffix (e.g. 'demo-offline')."""
    return {p.name.split("_", 2)[2]: p for p in sorted(root.iterdir()) if p.is_dir()}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port, shared by one module's tests (a module that
    uses it skips itself when mosquitto is missing: ``tests.mqtt_broker.MISSING_REASON``)."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mqtt")).start()
    yield mosquitto
    mosquitto.stop()


#: pyvisa-sim's description of the WT300 family (analyzer_drivers/sim/wt300_yaml.py writes it).
WT300_YAML = Path(__file__).resolve().parent.parent / "analyzer_drivers" / "sim" / "wt310.yaml"


def socket_resource(port: int) -> str:
    """The VISA resource of a loopback SCPI server, as pyvisa-py opens it."""
    return f"TCPIP::127.0.0.1::{port}::SOCKET"


def with_meter(body: Callable[[Wt300Simulator, int], Awaitable[T]], identity: str = "wt310",
               watts: float = 150.0, update_interval_s: float = 0.5, compat_mode: str | None = None) -> T:
    """Run ``body(simulator, port)`` against a loopback WT300 SCPI simulator (constant ``watts``
    at 230 V) and close the simulator whatever happens."""
    async def main() -> T:
        simulator = Wt300Simulator(constant_model(watts, volts=230.0), identity,
                                   update_interval_s=update_interval_s, compat_mode=compat_mode)
        port = await simulator.start_server()
        try:
            return await asyncio.wait_for(body(simulator, port), 60)
        finally:
            await simulator.close()

    return asyncio.run(main())
