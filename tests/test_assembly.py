"""One Session assembly: ``serve`` honours ``[[extra_analyzer]]`` and ``[telemetry]`` as ``run``
does, and every meter samples at its own ``interval_ms`` (real sockets, a real mosquitto)."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
from pathlib import Path

import aiomqtt
import pytest

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import load_config
from power_director.remote.service import DirectorService
from power_director.session.assembly import build_session
from reports.spl import read_spl
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto
from tests.remote_util import TOKEN, Director, run, write_token
from tests.test_service import agent, loadgen_stand_in
from tests.test_v3_compat import CLIENT_UUID, V3Client

LAB = "assembly-lab"


def _config(
    tmp_path: Path, ports: tuple[int, int], extra_ms: int, telemetry: str = "", service: str = ""
) -> Path:
    """A director config file: a 150 W primary every 50 ms and a 50 W summed supply at its own interval."""
    path = tmp_path / "director.toml"
    path.write_text(
        f"[analyzer]\nport = {ports[0]}\ninterval_ms = 50\nconnect_timeout_s = 5.0\n"
        f"[[extra_analyzer]]\nrole = \"sum\"\nport = {ports[1]}\ninterval_ms = {extra_ms}\n"
        f'[session]\nout_dir = "{tmp_path / "director-runs"}"\nsettle_s = 0.05\npoll_interval_s = 0.1\n'
        f'[service]\nport = 0\ntoken_file = "{write_token(tmp_path / "token")}"\n{service}'
        + telemetry,
        encoding="utf-8",
    )
    return path


async def _subscribe(port: int, got: list[tuple[str, bytes]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"power-director/{LAB}/#", qos=1)
        ready.set()
        async for message in client.messages:
            got.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]


@pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
def test_serve_measures_extra_analyzers_and_publishes_telemetry(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    got: list[tuple[str, bytes]] = []

    async def body() -> None:
        sims = [PtdSimulator(model=constant_model(w), identity="wt310") for w in (150.0, 50.0)]
        ports = (await sims[0].start_server(), await sims[1].start_server())
        telemetry = f'[telemetry]\nbroker = "{broker.address}"\ndirector_id = "{LAB}"\n'
        config = load_config(_config(tmp_path, ports, 100, telemetry))
        ready = asyncio.Event()
        listener = asyncio.create_task(_subscribe(broker.port, got, ready))
        await asyncio.wait_for(ready.wait(), 10)
        service = DirectorService(config, say=lambda _: None)
        try:
            port = await service.start()
            director = Director(service, port, Path(config.session.out_dir))
            async with agent(director, tmp_path, token=TOKEN, label="extras") as remote:
                for phase in ("ranging", "testing"):
                    async with remote.phase(phase) as log_dir:
                        await loadgen_stand_in(log_dir, seconds=1.5)
            assert remote.result is not None and remote.result.status == "completed", remote.result
        finally:
            await service.close()
            for sim in sims:
                await sim.close()
        await asyncio.sleep(0.5)
        listener.cancel()

    try:
        run(body, timeout_s=90)
    finally:
        broker.stop()
    (session,) = [p for p in (tmp_path / "director-runs").iterdir() if p.is_dir()]
    meta = json.loads((session / "session.json").read_text())
    report = json.loads((session / "report.json").read_text())
    assert report["valid"], report["problems"]
    assert [a["role"] for a in meta["analyzers"]] == ["primary", "sum"]
    assert report["power"]["avg_watts"] == pytest.approx(200.0, rel=0.01)  # both supplies, summed
    root = f"power-director/{LAB}"
    assert (f"{root}/status", b"online") in got
    for analyzer in meta["analyzers"]:
        driver = analyzer["driver"]
        batches = [json.loads(p) for t, p in got if t == f"{root}/samples/{driver}"]
        assert sum(len(b["samples"]) for b in batches) == meta["samples"][driver] > 0
    (result,) = [json.loads(p) for t, p in got if t == f"{root}/result"]
    assert result == report


@pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
def test_serve_v3_clients_get_the_extra_analyzers_and_telemetry_too(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    got: list[tuple[str, bytes]] = []

    async def body() -> None:
        sims = [PtdSimulator(model=constant_model(w), identity="wt310") for w in (150.0, 50.0)]
        ports = (await sims[0].start_server(), await sims[1].start_server())
        telemetry = f'[telemetry]\nbroker = "{broker.address}"\ndirector_id = "{LAB}"\n'
        v3 = 'v3_allowed_addresses = ["127.0.0.1"]\n'
        config = load_config(_config(tmp_path, ports, 100, telemetry, v3))
        ready = asyncio.Event()
        listener = asyncio.create_task(_subscribe(broker.port, got, ready))
        await asyncio.wait_for(ready.wait(), 10)
        service = DirectorService(config, say=lambda _: None)
        try:
            client = await V3Client.connect(await service.start())
            assert await client.ask("mlcommons/power client v3") == "mlcommons/power server v3"
            session_id = (await client.ask(f"new,v3extras,{CLIENT_UUID}")).split(" ", 1)[1].split(",")[0]
            for phase in ("ranging", "testing"):
                assert await client.ask(f"session,{session_id},start,{phase}") == "OK"
                await asyncio.sleep(1.0)
                assert await client.ask(f"session,{session_id},stop,{phase}") == "OK"
            assert await client.ask(f"session,{session_id},done") == "OK"
            client.writer.close()
        finally:
            await service.close()
            for sim in sims:
                await sim.close()
        await asyncio.sleep(0.5)
        listener.cancel()

    try:
        run(body, timeout_s=90)
    finally:
        broker.stop()
    (session,) = [p for p in (tmp_path / "director-runs").iterdir() if p.is_dir()]
    meta = json.loads((session / "session.json").read_text())
    assert [a["role"] for a in meta["analyzers"]] == ["primary", "sum"]
    spl = (session / "run_1" / "spl.txt").read_text().splitlines()
    assert spl and all(",Ch1,Watts,150." in line and ",Ch2,Watts,50." in line for line in spl[1:-1])
    root = f"power-director/{LAB}"
    for analyzer in meta["analyzers"]:
        driver = analyzer["driver"]
        batches = [json.loads(p) for t, p in got if t == f"{root}/samples/{driver}"]
        assert sum(len(b["samples"]) for b in batches) == meta["samples"][driver] > 0


def test_each_meter_samples_at_its_own_interval(tmp_path: Path) -> None:
    async def body() -> Path:
        sims = [PtdSimulator(model=constant_model(w), identity="wt310") for w in (150.0, 50.0)]
        ports = (await sims[0].start_server(), await sims[1].start_server())
        config = load_config(_config(tmp_path, ports, 400))
        try:
            session = build_session(config, InProcessLoadgen(CpuBenchmark("Offline", 2.0, accelerator=True)),
                                    out_root=tmp_path / "runs", label="intervals", say=lambda _: None)
            await session.run()
            return session.dir
        finally:
            for sim in sims:
                await sim.close()

    session = run(body, timeout_s=90)
    meta = json.loads((session / "session.json").read_text())
    spacing_ms = {}
    for analyzer in meta["analyzers"]:
        samples = read_spl(session / "raw" / f"{analyzer['driver']}.samples.txt")
        stamps = [int(t) for t in samples.with_mark(meta["phases"]["testing"]["mark"]).t_ns]
        assert len(stamps) > 3, analyzer
        spacing_ms[analyzer["role"]] = statistics.median(b - a for a, b in itertools.pairwise(stamps)) / 1e6
    # The simulator stamps sample k at start + k × the interval Go asked for.
    assert spacing_ms == {"primary": pytest.approx(50.0), "sum": pytest.approx(400.0)}
    assert [a["interval_ms"] for a in meta["analyzers"]] == [50, 400]
