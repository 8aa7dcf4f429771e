"""A simulated-WT310 session satisfies the rules MLCommons' power checker encodes.

The checker itself cannot run here (it needs its own sources' checksums), so each rule
it applies to a session directory is restated below and applied to ours; only the
source-checksum rule is left out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config import AnalyzerConfig, Config, SessionConfig
from power_director.session import Session

REQUIRED_FIELDS = {"version", "timezone", "modules", "sources", "messages", "uuid",
                   "session_name", "results", "phases"}
REQUIRED_RESULTS = ["power/client.log", "power/ptd_logs.txt", "power/server.log",
                    *[f"{d}/{f}" for d in ("ranging", "run_1")
                      for f in ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")]]
STAMP = r"\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d\.\d\d\d"


@pytest.fixture(scope="module")
def wt310_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wt310")

    async def main() -> Path:
        simulator = PtdSimulator(model=constant_model(180.0), identity="wt310")
        port = await simulator.start_server()
        config = Config(AnalyzerConfig(port=port, interval_ms=1000), SessionConfig(settle_s=0.1))
        try:
            session = Session(config, PtdAnalyzer("127.0.0.1", port), InProcessLoadgen(
                CpuBenchmark("Offline", 2.5)), out_root=out, label="wt310", say=lambda _: None)
            await session.run()
            return session.dir
        finally:
            await simulator.close()

    return asyncio.run(main())


def descriptors(session: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    load = lambda name: json.loads((session / "power" / name).read_text())  # noqa: E731
    return load("client.json"), load("server.json")


def utc_seconds(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()


def loadgen_window(run_dir: Path) -> tuple[float, float]:
    text = (run_dir / "mlperf_log_detail.txt").read_text()
    begin = re.search(rf'"power_begin", "value": "({STAMP})"', text)
    end = re.search(rf'"power_end", "value": "({STAMP})"', text)
    assert begin and end
    return utc_seconds(begin.group(1)), utc_seconds(end.group(1))


def test_descriptors_have_the_required_fields(wt310_session: Path) -> None:
    client, server = descriptors(wt310_session)
    assert client.keys() >= REQUIRED_FIELDS and server.keys() >= REQUIRED_FIELDS
    assert uuid.UUID(client["uuid"]["client"]) == uuid.UUID(server["uuid"]["client"])
    assert uuid.UUID(client["uuid"]["server"]) == uuid.UUID(server["uuid"]["server"])
    assert client["session_name"] == server["session_name"] == wt310_session.name
    assert server.get("debug", False) is False
    assert [a["device_type"] for a in server["ptd_config"]] == [49]  # WT310


def test_ptd_messages(wt310_session: Path) -> None:
    _, server = descriptors(wt310_session)
    messages = server["ptd_messages"]
    identify = next(m["reply"] for m in messages if m["cmd"] == "Identify")
    assert identify.split(",")[0] == "YokogawaWT310"
    version = re.search(r"(?<=version=)(.+?)-", identify)
    assert version and version.group(1) == "1.11.1"
    go_reply = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
    expected = {"SR,A": "Range A changed", "SR,V": "Range V changed", "Go,1000,": go_reply}
    for prefix, reply in expected.items():
        replies = [m["reply"] for m in messages if m["cmd"].startswith(prefix)]
        assert replies and all(r == reply for r in replies), prefix
    stops = [m["reply"] for m in messages if m["cmd"] == "Stop"]
    assert stops[:2] == ["Stopping untimed measurement"] * 2
    # msgs[2] is the RR reply with the initial ranges; the third SR of each kind restores them.
    rr = messages[2]["reply"].split(",")
    assert messages[2]["cmd"] == "RR"
    initial_amps = rr[2] if rr[1] == "0" and float(rr[2]) > 0 else "Auto"
    initial_volts = rr[4] if rr[3] == "0" and float(rr[4]) > 0 else "Auto"
    assert [m["cmd"] for m in messages if m["cmd"].startswith("SR,A")][2] == f"SR,A,{initial_amps}"
    assert [m["cmd"] for m in messages if m["cmd"].startswith("SR,V")][2] == f"SR,V,{initial_volts}"


def test_client_and_server_messages(wt310_session: Path) -> None:
    client, server = descriptors(wt310_session)
    assert [m["cmd"] for m in client["messages"]] == [m["cmd"] for m in server["messages"]]
    assert [m["reply"] for m in client["messages"]] == [m["reply"] for m in server["messages"]]
    first = server["messages"][0]
    client_v = re.search(r"mlcommons\/power client v(\d+)$", first["cmd"])
    server_v = re.search(r"mlcommons\/power server v(\d+)$", first["reply"])
    assert client_v and server_v and client_v.group(1) == server_v.group(1)


def test_phases_and_windows(wt310_session: Path) -> None:
    client, server = descriptors(wt310_session)
    for phase, run in (("ranging", "ranging"), ("testing", "run_1")):
        c, s = client["phases"][phase], server["phases"][phase]
        assert len(c) == len(s) == 4
        assert all(abs(a[0] - b[0]) <= 0.5 for a, b in zip(c, s, strict=True))
        begin, end = loadgen_window(wt310_session / run)
        assert c[1][0] < begin < c[2][0] and c[1][0] < end < c[2][0]


def test_result_checksums(wt310_session: Path) -> None:
    client, server = descriptors(wt310_session)
    for name in REQUIRED_RESULTS:
        actual = hashlib.sha1((wt310_session / name).read_bytes()).hexdigest()
        assert client["results"][name] == server["results"][name] == actual, name


def test_ptd_logs(wt310_session: Path) -> None:
    _, server = descriptors(wt310_session)
    lines = (wt310_session / "power" / "ptd_logs.txt").read_text().splitlines()
    mark = f"{server['session_name']}_ranging"

    def time_of(message: str) -> float:
        line = next(line for line in lines if line[23:] == f": {message}")
        return utc_seconds(line[:23]) + int(server["timezone"])

    go, done = time_of(f"Go with mark '{mark}'"), time_of("Completed test")
    assert go < done
    activated_re = re.compile(r"Uncertainty checking for Yokogawa\S+ is activated")
    activated = next(line for line in lines if activated_re.search(line))
    assert utc_seconds(activated[:23]) < go
    assert not [line for line in lines if "ERROR:" in line or "WARNING:" in line]


def test_power_metric_and_our_checks(wt310_session: Path) -> None:
    report = json.loads((wt310_session / "report.json").read_text())
    assert report["valid"], report["problems"]
    assert report["power"]["avg_watts"] == pytest.approx(180.0, rel=0.01)
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["testing_sample_uncertainty"] == "pass"
    assert names["testing_sample_coverage"] == "pass"
    assert names["testing_range_overload"] == "pass"
    budget = report["uncertainty"]
    assert 0 < budget["watts"] < 0.01 * 180
    assert "WT310 accuracy spec" in budget["analyzer_source"]
