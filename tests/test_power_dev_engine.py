"""power-dev engine mode, power-dev's own server.conf, and the release checksums.

Always: power-dev's ``server.template.conf`` (a byte copy in tests/fixtures/power-dev, from
mlcommons/power-dev c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2), filled in as a lab fills it
for the PTDaemon stand-in, drives ``run --power-dev-conf`` to a valid session; PTDaemon's
sample log is followed from a real one (a published run's spl.txt: the same lines).
With POWER_DEV_DIR (and root, for NTP's port 123): ``run --power-dev`` measures with
power-dev's unmodified server.py and client.py; MLCommons' checker passes every rule, the
source checksums included; and with the inference checkout (MLPERF_INFERENCE_DIR, default
/work/ext/inference) MLCommons' submission checker keeps the laid-out result.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer_drivers.formats.errors import ConfigError
from power_director.cli.app import main
from power_director.config.loader import Config
from power_director.config.power_dev import read_power_dev_conf
from power_director.session.power_dev_engine import EngineOptions, check_checkout, serve_engine, write_conf
from power_director.session.power_dev_watch import EngineWatch, SampleLogWatch, read_sample_line
from reports.mlperf.layout import release_checksums, source_checksums
from tests import mlperf_rules
from tests.mlperf_checker import SOURCE_RULES, failed_rules, power_dev_dir, run_checker
from tests.ntp_server import ntp_server
from tests.remote_util import ROOT, quiet_env
from tests.submission_scaffold import DIVISION, MODEL, SUBMITTER, SYSTEM, scaffold

TEMPLATE = ROOT / "tests" / "fixtures" / "power-dev" / "server.template.conf"
REAL_H200 = (ROOT / "tests" / "fixtures" / "real-submissions"
             / "v4.1_NVIDIA_H200-SXM-141GBx8_TRT_MaxQ_3d-unet-99.9_Offline")
LAUNCHER = str(Path(sys.executable).with_name("power-director-ptd-sim"))
WORKLOAD = [sys.executable, "-m", "tests.submission_scaffold", "loadgen"]
pytestmark = pytest.mark.xdist_group("ntp-port-123")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def filled_template(tmp_path: Path, port: int) -> Path:
    """The template as a lab fills it: the ptd path, the NTP server, the daemon's port."""
    tmp_path.mkdir(exist_ok=True)
    text = TEMPLATE.read_text()
    text = text.replace(r"ptd: D:\PTD\ptd-windows-x86.exe", f"ptd: {LAUNCHER}")
    text = text.replace("# ntpServer: ntp.example.com", "ntpServer: 127.0.0.1")
    text = text.replace("#networkPort: 8888", f"networkPort: {port}")
    assert text.count(LAUNCHER) == 1 and "ntpServer: 127.0.0.1" in text and f"networkPort: {port}" in text
    conf = tmp_path / "server.conf"
    conf.write_text(text)
    return conf


def test_the_template_reads_as_power_devs_older_layout(tmp_path: Path) -> None:
    conf = read_power_dev_conf(filled_template(tmp_path, 8890))
    (launch,) = conf.launches
    assert (launch.device_type, launch.device_port, launch.interface_flag) == (49, "COM1", "")
    assert launch.channel is None
    assert conf.ntp_server == "127.0.0.1" and conf.listen == ("0.0.0.0", 4950) and not conf.listen_given
    assert launch.command("L") == [LAUNCHER, "-l", "L", "-p", "8890", "49", "COM1"]


def test_the_analyzer_sections_and_bad_confs(tmp_path: Path) -> None:
    conf = tmp_path / "two.conf"
    conf.write_text("[server]\nntpServer: pool.ntp.org\nlisten: 127.0.0.1 4999\nrangingMode: AUTO\n"
                    "[ptd]\nptd: /opt/ptd\nanalyzerCount: 2\nextra: 1\n"
                    "[analyzer1]\ndeviceType: 77\ninterfaceFlag: -y\ndevicePort: A\nnetworkPort: 8888\n"
                    "channel: 1,2\n[analyzer2]\ndeviceType: 49\ninterfaceFlag: -g\ndevicePort: 0\n"
                    "networkPort: 8889\ngpibBoard: 1\n")
    read = read_power_dev_conf(conf)
    assert [launch.command("L")[3:] for launch in read.launches] == [
        ["-p", "8888", "-c", "1,2", "-y", "77", "A"], ["-p", "8889", "-b", "1", "-g", "49", "0"]]
    assert read.listen == ("127.0.0.1", 4999) and read.ignored == ("[ptd] extra",)
    cases = {
        "[server]\nntpServer: x\n[ptd]\nptd: p\ndeviceType: 77\ninterfaceFlag:\ndevicePort: C\n":
            "channel must be two numbers for the multichannel device type 77",
        "[server]\nntpServer: x\n[ptd]\nptd: p\ndeviceType: 49\ndevicePort: C\n": "no interfaceFlag in [ptd]",
        "[server]\n[ptd]\nptd: p\n": "no ntpServer in [server]",
        "[server]\nntpServer: x\nrangingMode: MAX\n[ptd]\nptd: p\ndeviceType: 49\ninterfaceFlag:\n"
        "devicePort: C\n": "rangingMode MAX",
        "not a conf": "is not a power-dev server.conf",
    }
    for text, error in cases.items():
        conf.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(error)):
            read_power_dev_conf(conf)
    # power-dev's own server reads MAX (engine mode); "FOO" nobody does
    conf.write_text("[server]\nntpServer: x\nrangingMode: MAX\n[ptd]\nptd: p\ndeviceType: 49\n"
                    "interfaceFlag:\ndevicePort: C\n")
    assert read_power_dev_conf(conf, engine=True).launches[0].device_type == 49
    conf.write_text(conf.read_text().replace("MAX", "FOO"))
    with pytest.raises(ConfigError, match="rangingMode 'FOO' is not AUTO or MAX"):
        read_power_dev_conf(conf, engine=True)


def test_run_with_the_filled_template_gives_a_valid_session(tmp_path: Path) -> None:
    """power-dev's template, filled in for the stand-in, unchanged otherwise: the director
    starts the PTDaemon it describes and the session is valid (and passes the restated rules)."""
    conf = filled_template(tmp_path, free_port())
    toml = tmp_path / "director.toml"
    toml.write_text("[session]\nsettle_s = 0.1\n")
    argv = ["run", "--config", str(toml), "--power-dev-conf", str(conf), "--out", str(tmp_path / "runs"),
            "--quiet", "--", sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
            "--seconds", "2", "--accelerator"]
    assert main(argv) == 0
    (session,) = [d for d in (tmp_path / "runs").iterdir() if (d / "session.json").is_file()]
    server = json.loads((session / "power" / "server.json").read_text())
    assert server["ptd_config"][0]["command"][0] == LAUNCHER and server["ptd_config"][0]["device_type"] == 49
    for rule in mlperf_rules.RULES.values():
        rule(session)


def test_sample_log_is_followed_as_it_grows(tmp_path: Path) -> None:
    """A real multichannel PTDaemon log (the v4.1 H200 run's spl.txt: PTDaemon's -l lines of one
    mark), fed in two parts with a line cut in the middle."""
    lines = (REAL_H200 / "run_1" / "spl.txt").read_text().splitlines(keepends=True)
    assert read_sample_line(lines[0]) == ("2024-07-12_00-04-34_testing", 2366.2, 239.186667, 3.416333)
    log = tmp_path / "ptd_logfile_1.log"
    said: list[str] = []
    watch = EngineWatch(said.append, 77, 3)
    watch.on_server_line(f"... [INFO] Analyzer [1] is running PTDaemon: ['ptd', '-l', '{log}', '-p', '8888']")
    half = "".join(lines[:10]) + lines[10][:30]
    log.write_text(half)
    watch.tick()
    log.write_text("".join(lines))
    watch.tick()
    tally = watch.logs[0].tallies["2024-07-12_00-04-34_testing"]
    samples = [line for line in lines if line.startswith("Time,")]  # the file ends with an empty line
    assert tally.samples == len(samples) and tally.max_amps == max(float(x.split(",")[7]) for x in samples)
    assert said == [f"  2024-07-12_00-04-34_testing: 10 samples, last {float(lines[9].split(',')[3]):.1f} W"]
    assert SampleLogWatch(tmp_path / "none").poll() == []
    # The next session's daemon starts the file again: its ranging, then its testing run.
    ranging = (REAL_H200 / "ranging" / "spl.txt").read_text()
    log.write_text(ranging[:2000])
    watch.tick()
    log.write_text(ranging + "".join(lines[:3]))
    watch.tick()
    watch.tick()
    assert watch.logs[0].tallies["2024-07-12_00-04-34_ranging"].samples == ranging.count("Time,")
    assert [line for line in said if line.startswith("  range advice: ")] == said[-1:]


def test_sources_checksums_prints_what_server_json_keeps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources-checksums"]) == 0
    (printed,) = json.loads(capsys.readouterr().out)
    assert printed == release_checksums() and "power_director/cli/app.py" in printed
    assert all(re.fullmatch(r"[0-9a-f]{40}", digest) for digest in printed.values())
    assert not any("__pycache__" in name or name.startswith("tests/") for name in printed)


def test_the_checksum_is_power_devs(tmp_path: Path) -> None:
    """Our hashing of power-dev's own sources gives an entry of its sources_checksums.json."""
    power_dev = power_dev_dir()
    accepted = json.loads((power_dev / "compliance" / "sources_checksums.json").read_text())
    assert source_checksums(power_dev / "ptd_client_server") in accepted
    assert check_checkout(power_dev) is None
    with pytest.raises(ConfigError, match="is not a mlcommons/power-dev checkout"):
        check_checkout(tmp_path)


def test_written_conf_is_read_by_power_devs_server_config(tmp_path: Path) -> None:
    power_dev = power_dev_dir()
    from power_director.config.loader import config_from_dict

    meter = {"ptd_path": LAUNCHER, "device_type": 77, "device_port": "C", "interface_flag": "-y",
             "ptd_channel": "1,2", "port": free_port()}
    config = config_from_dict({"analyzer": meter})
    conf = write_conf(config, "127.0.0.1", tmp_path / "server.conf")
    program = ("import json, sys; from ptd_client_server.lib import server; "
               "c = server.ServerConfig(sys.argv[1]); print(json.dumps(c.ptd_summary[0]))")
    done = subprocess.run([sys.executable, "-B", "-c", program, str(conf)], cwd=power_dev,
                          capture_output=True, text=True, timeout=60, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    (ours,) = read_power_dev_conf(conf).launches
    assert ours.ptd_config(theirs["command"][2]) == theirs


def inference_dir() -> Path:
    root = Path(os.environ.get("MLPERF_INFERENCE_DIR", "/work/ext/inference"))
    if not (root / "tools" / "submission" / "submission_checker" / "main.py").is_file():
        pytest.skip(f"MLCommons' submission checker needs MLPERF_INFERENCE_DIR (a mlcommons/inference "
                    f"checkout at b66003e1); {root} has none")
    return root


@pytest.fixture(scope="module")
def engine_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    power_dev = power_dev_dir()
    if os.geteuid() != 0:
        pytest.skip("power-dev's server and client check the clock against NTP on UDP 123: needs root")
    inference_dir()  # the workload reads LoadGen's mlperf.conf from it
    tmp = tmp_path_factory.mktemp("engine")
    toml = tmp / "director.toml"
    toml.write_text(f'[analyzer]\nptd_path = "{LAUNCHER}"\ndevice_type = 77\ndevice_port = "C2XL24034V"\n'
                    f'interface_flag = "-y"\nptd_channel = "1,2"\nport = {free_port()}\n'
                    '[session]\nlabel = "engine"\n')
    argv = [sys.executable, "-m", "power_director.cli", "run", "--config", str(toml), "--power-dev",
            str(power_dev), "--ntp", "127.0.0.1", "--out", str(tmp / "runs"), "--", *WORKLOAD]
    with ntp_server():
        done = subprocess.run(argv, cwd=ROOT, env=quiet_env(), capture_output=True, text=True, timeout=400)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 1: not MLPerf-valid
    assert "power-dev: " in done.stdout and "range advice: " in done.stdout, done.stdout[-3000:]
    (session,) = [d for d in (tmp / "runs").iterdir() if (d / "session.json").is_file()]
    return session


def test_engine_session_passes_every_rule_of_mlcommons_checker(engine_session: Path) -> None:
    assert failed_rules(engine_session) == set()
    assert set(run_checker(engine_session)) >= SOURCE_RULES


def test_engine_session_is_a_director_session(engine_session: Path) -> None:
    report = json.loads((engine_session / "report.json").read_text())
    assert report["power"]["avg_watts"] == pytest.approx(150.0)
    meta = json.loads((engine_session / "session.json").read_text())
    assert meta["label"] == "engine" and "power-dev engine" in meta["command"]
    journal = [json.loads(line) for line in (engine_session / "power-dev-engine" / "journal.jsonl").open()]
    assert {entry["source"] for entry in journal} == {"server", "client"}
    assert any("Successful exit" in entry["line"] for entry in journal)
    server = json.loads((engine_session / "power" / "server.json").read_text())
    assert server["ptd_config"][0]["command"][-5:] == ["-c", "1,2", "-y", "77", "C2XL24034V"]


def test_submission_checker_keeps_the_result(engine_session: Path, tmp_path: Path) -> None:
    """The session laid out by ``submission`` plus tests/submission_scaffold.py's non-power
    parts: MLCommons' submission checker (mlcommons/inference b66003e1) keeps it, power metric
    included."""
    inference = inference_dir()
    tree = tmp_path / "tree"
    assert main(["submission", str(engine_session), "--submitter", SUBMITTER, "--system", SYSTEM,
                 "--model", MODEL, "--division", DIVISION, "--out", str(tree), "--allow-invalid"]) == 0
    accuracy_logs = tmp_path / "accuracy-run"
    subprocess.run([*WORKLOAD, "--accuracy", "--out", str(accuracy_logs)], cwd=ROOT, env=quiet_env(),
                   check=True, timeout=300)
    scaffold(tree, accuracy_logs)
    done = subprocess.run([sys.executable, "-B", "-m", "submission_checker.main", "--input", str(tree),
                           "--version", "v6.1", "--csv", str(tmp_path / "summary.csv")],
                          cwd=inference / "tools" / "submission", capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Results=1, NoResults=0, Power Results=1" in output
    assert "All checks passed" in output and not re.search(r"ERROR.*power", output, re.IGNORECASE)
    with (tmp_path / "summary.csv").open() as summary:
        (power_row,) = [row for row in csv.DictReader(summary) if row["Units"] == "Watts"]
    report = json.loads((engine_session / "report.json").read_text())
    assert float(power_row["Result"]) == pytest.approx(report["power"]["avg_watts"])


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    """Until something listens on ``port`` (power-dev's server: NTP, then PTDaemon's start)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} (serve exited: {process.poll()})")


def test_serve_runs_power_devs_server_for_its_clients(tmp_path: Path) -> None:
    """``serve --power-dev``: power-dev's server.py under the director's watch, power-dev's
    client.py against it; the session passes every rule; SIGTERM stops both."""
    power_dev = power_dev_dir()
    if os.geteuid() != 0:
        pytest.skip("power-dev's server and client check the clock against NTP on UDP 123: needs root")
    listen, ptd_port = free_port(), free_port()
    conf = tmp_path / "server.conf"  # power-dev's current layout: the analyzer in [analyzer1]
    conf.write_text(f"[server]\nntpServer: 127.0.0.1\nlisten: 127.0.0.1 {listen}\n[ptd]\nptd: {LAUNCHER}\n"
                    f"[analyzer1]\ndeviceType: 49\ninterfaceFlag:\ndevicePort: COM1\n"
                    f"networkPort: {ptd_port}\n")
    template = filled_template(tmp_path / "t", free_port())
    with pytest.raises(ConfigError, match=r"reads the analyzer from \[analyzer1\]"):  # power-dev refuses it
        asyncio.run(serve_engine(Config(), EngineOptions(power_dev, template), out_root=tmp_path, say=print))
    toml = tmp_path / "director.toml"
    toml.write_text(f'[session]\nout_dir = "{tmp_path / "served"}"\n')
    argv = [sys.executable, "-m", "power_director.cli", "serve", "--config", str(toml), "--power-dev",
            str(power_dev), "--power-dev-conf", str(conf)]
    loadgen = tmp_path / "loadgen"
    workload = f"{sys.executable} -m loadgen_bridge.cpu_sut --seconds 2 --accelerator --out {loadgen}"
    with ntp_server():  # power-dev's server checks the clock as it starts
        serve = subprocess.Popen(argv, cwd=ROOT, env=quiet_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_port(listen, serve)
            client = subprocess.run(
                [sys.executable, "-B", str(power_dev / "ptd_client_server" / "client.py"), "-a", "127.0.0.1",
                 "-p", str(listen), "-n", "127.0.0.1", "-L", str(loadgen), "-o", str(tmp_path / "out"),
                 "-w", workload], cwd=ROOT, env=quiet_env(), capture_output=True, text=True, timeout=300)
            assert client.returncode == 0, client.stdout[-3000:] + client.stderr[-3000:]
        finally:
            serve.send_signal(signal.SIGTERM)
            output, _ = serve.communicate(timeout=60)
    assert "listening on 127.0.0.1" in output and "range advice: " in output, output[-3000:]
    (session,) = (tmp_path / "out").iterdir()
    assert failed_rules(session) == set()
    (journal,) = (tmp_path / "served").glob("power-dev-serve-*/power-dev-engine/journal.jsonl")
    assert any("Got command from the client" in json.loads(line)["line"] for line in journal.open())
    for port in (listen, ptd_port):  # power-dev's server is gone, and the PTDaemon it started
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port


def test_an_interrupted_engine_run_stops_everything_and_keeps_the_output(tmp_path: Path) -> None:
    """SIGINT while power-dev measures ranging: exit 130, power-dev's server, client, PTDaemon
    and the workload all gone, and what power-dev printed kept in its journal."""
    power_dev = power_dev_dir()
    if os.geteuid() != 0:
        pytest.skip("power-dev's server and client check the clock against NTP on UDP 123: needs root")
    ptd_port = free_port()
    toml = tmp_path / "director.toml"
    toml.write_text(f'[analyzer]\nptd_path = "{LAUNCHER}"\ndevice_type = 49\ndevice_port = "COM1"\n'
                    f"port = {ptd_port}\n")
    argv = [sys.executable, "-m", "power_director.cli", "run", "--config", str(toml), "--power-dev",
            str(power_dev), "--ntp", "127.0.0.1", "--out", str(tmp_path / "runs"), "--",
            sys.executable, "-m", "loadgen_bridge.cpu_sut", "--seconds", "120", "--accelerator", "--out",
            str(tmp_path / "lg")]
    with ntp_server():
        run = subprocess.Popen(argv, cwd=ROOT, env=quiet_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        assert run.stdout is not None
        seen = []
        for line in run.stdout:  # until power-dev's client starts the ranging run
            seen.append(line)
            if "Running workload in ranging mode" in line:
                break
        run.send_signal(signal.SIGINT)
        output = "".join(seen) + run.communicate(timeout=120)[0]
    assert run.returncode == 130, output[-3000:]
    assert "power-dev's output is kept in" in output, output[-3000:]
    (journal,) = (tmp_path / "runs").glob(".power-dev-engine-*/power-dev-engine/journal.jsonl")
    assert any("Running workload in ranging mode" in json.loads(line)["line"] for line in journal.open())
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", ptd_port)) != 0  # PTDaemon is gone
    left = subprocess.run(["pgrep", "-f", f"--out {tmp_path / 'lg'}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout  # the workload is gone too


def test_engine_and_conf_mistakes_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake-power-dev" / "ptd_client_server"
    fake.mkdir(parents=True)
    checkout = str(fake.parent)
    plain = tmp_path / "plain.toml"
    plain.write_text("[session]\nlabel = 'x'\n")
    managed = tmp_path / "managed.toml"
    managed.write_text(f'[analyzer]\nptd_path = "{LAUNCHER}"\ndevice_type = 49\ndevice_port = "COM1"\n')

    def refused(options: list[str], error: str) -> None:
        assert main(["run", *options, "--out", str(tmp_path / "runs"), "--", "true"]) == 2, options
        err = capsys.readouterr().err
        assert error in err and err.count("\n") == 1 and "Traceback" not in err, err

    refused(["--config", str(plain), "--power-dev", str(tmp_path)], "is not a mlcommons/power-dev checkout")
    refused(["--config", str(plain), "--power-dev", checkout], "is not a mlcommons/power-dev checkout")
    refused([], "give --config FILE, --power-dev-conf SERVER_CONF, or both")
    refused(["--power-dev-conf", str(tmp_path / "missing.conf")], "cannot read power-dev config")
    for program in ("server.py", "client.py"):
        (fake / program).write_text("# not power-dev\n")
    refused(["--config", str(plain), "--power-dev", checkout], "has power-dev's server start PTDaemon")
    refused(["--config", str(managed), "--power-dev", checkout], "needs an NTP server (--ntp ADDRESS)")
    assert list((tmp_path / "runs").iterdir()) == []  # a refused run leaves nothing behind
