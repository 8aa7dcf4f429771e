"""MLCommons power-dev v3 clients against our director, over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.remote_util import run, running_director, session_meta

CLIENT_UUID = "0c8f4b6e-0000-4000-8000-00000000c11e"


class V3Client:
    """The client side of docs/protocols.md#power-dev-v3, as power-dev's client.py speaks it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> V3Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def line(self) -> str:
        # 60 s: a hang, not a busy machine (a start waits for the analyzer and the settle)
        return (await asyncio.wait_for(self.reader.readline(), 60)).decode().rstrip("\r\n")

    async def ask(self, command: str) -> str:
        self.writer.write(command.encode() + b"\r\n")
        return await self.line()

    async def download(self, session_id: str, relpath: str) -> bytes:
        self.writer.write(f"download,{session_id},{relpath}\r\n".encode())
        data = b""
        while (length := int(await self.line())) != 0:
            data += await self.reader.readexactly(length)
        return data


def test_full_v3_command_sequence(tmp_path: Path) -> None:
    async def body() -> dict[str, object]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            client = await V3Client.connect(director.port)
            got: dict[str, object] = {"hello": await client.ask("mlcommons/power client v3")}
            got["time"] = float(await client.ask("time"))
            got["set_ntp"] = await client.ask("set_ntp")
            reply = await client.ask(f"new,v3label,{CLIENT_UUID}")
            got["new"] = reply
            session_id = reply.split(" ", 1)[1].split(",")[0]
            for phase in ("ranging", "testing"):
                got[f"start_{phase}"] = await client.ask(f"session,{session_id},start,{phase}")
                await asyncio.sleep(0.3)
                got[f"stop_{phase}"] = await client.ask(f"session,{session_id},stop,{phase}")
            got["done"] = await client.ask(f"session,{session_id},done")
            got["spl"] = await client.download(session_id, "run_1/spl.txt")
            got["escape"] = await client.download(session_id, "../../director.toml")
            got["cleanup"] = await client.ask(f"cleanup,{session_id}")
            got["unknown"] = await client.ask("rm -rf /")
            got["busy_after"] = director.service.active
            client.writer.close()
            return got

    got = run(body)
    assert got["hello"] == "mlcommons/power server v3"
    assert abs(float(got["time"]) - time.time()) < 5  # type: ignore[arg-type]
    assert got["set_ntp"] == "OK"
    assert str(got["new"]).startswith("OK ") and str(got["new"]).endswith(",") is False
    for key in (
        "start_ranging",
        "stop_ranging",
        "start_testing",
        "stop_testing",
        "done",
        "cleanup",
    ):
        assert got[key] == "OK", (key, got[key])
    spl = bytes(got["spl"]).decode()  # type: ignore[arg-type]
    assert spl.count("\n") >= 3 and "Watts,150.0" in spl
    assert got["escape"] == b""
    assert str(got["unknown"]).startswith("Error: unknown")
    assert got["busy_after"] is None
    meta = session_meta(tmp_path / "director-runs")
    assert meta["status"] == "completed"  # measured; the report waits for LoadGen logs
    # A v3 client reports no host name: the system under test is named by its address.
    assert (meta["system_name"], meta["system_from"]) == ("127.0.0.1", "sut agent")


def test_v3_from_a_address_not_allowed_is_refused(tmp_path: Path) -> None:
    async def body() -> str:
        async with running_director(tmp_path) as director:  # no v3 addresses configured
            client = await V3Client.connect(director.port)
            reply = await client.ask("mlcommons/power client v3")
            rest = await asyncio.wait_for(client.reader.read(), 5)
            client.writer.close()
            return reply + rest.decode()

    assert run(body) == "Error: v3 clients are not allowed from this address"


class SampleCount:
    """A session observer: how many samples the session has received (the test waits on it)."""

    def __init__(self) -> None:
        self.samples = 0

    def on_state(self, phase: str, meta: object) -> None:
        pass

    def on_samples(self, analyzer: str, samples: Sequence[object]) -> None:
        self.samples += len(samples)

    def on_result(self, report: object) -> None:
        pass


async def until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll until ``condition()``; the deadline only bounds a hang (the machine may be busy)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_v3_second_client_busy_and_disconnect_mid_phase_aborts(tmp_path: Path) -> None:
    async def body() -> tuple[str, str | None]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            count = SampleCount()
            director.service.observers.append(count)
            first = await V3Client.connect(director.port)
            await first.ask("mlcommons/power client v3")
            session_id = (await first.ask(f"new,one,{uuid.uuid4()}")).split(" ", 1)[1].split(",")[0]
            assert await first.ask(f"session,{session_id},start,ranging") == "OK"
            second = await V3Client.connect(director.port)
            await second.ask("mlcommons/power client v3")
            busy = await second.ask(f"new,two,{uuid.uuid4()}")
            second.writer.close()
            # Samples arrive every 50 ms; on a busy machine 0.3 s may bring fewer than 4.
            await until(lambda: count.samples >= 4)
            first.writer.close()  # gone mid-ranging
            await until(lambda: director.service.active is None)
            return busy, director.service.active

    busy, active = run(body, timeout_s=180)
    assert busy.startswith("Error: director busy")
    assert active is None
    meta = session_meta(tmp_path / "director-runs")
    assert meta["status"] == "aborted" and "ranging" in str(meta["error"])
    assert sum(meta["samples"].values()) >= 4  # type: ignore[attr-defined]


class RecordingClient(V3Client):
    """Records each exchange and phase time as power-dev's client.py does (lib/client.py
    CommandSender and summary.phase at c4b3ad8), to compare with the server.json it gets."""

    messages: list[dict[str, object]]
    phases: dict[str, list[float]]

    async def command(self, line: str) -> str:
        sent = time.time()
        reply = await self.ask(line)
        self.messages.append({"cmd": line, "cmd_time": sent, "reply": reply, "reply_time": time.time()})
        return reply


def test_server_json_records_what_the_client_saw(tmp_path: Path) -> None:
    """MLCommons' checker rules on a v3 session (restated, tests/mlperf_rules.py): the same
    messages on both sides, the client's uuid, phases within 800 ms of the client's."""
    async def body() -> tuple[RecordingClient, dict[str, object]]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            client = await RecordingClient.connect(director.port)
            client.messages, client.phases = [], {"ranging": [], "testing": []}
            await client.command("mlcommons/power client v3")
            await client.command("time")
            reply = await client.command(f"new,,{CLIENT_UUID}")
            session_id = reply[3:].split(",")[0]
            for phase in ("ranging", "testing"):
                client.phases[phase].append(time.time())
                await client.command(f"session,{session_id},start,{phase}")
                client.phases[phase].append(time.time())
                await client.command("time")
                await asyncio.sleep(0.3)
                client.phases[phase].append(time.time())
                await client.command(f"session,{session_id},stop,{phase}")
                client.phases[phase].append(time.time())
            assert await client.ask(f"session,{session_id},done") == "OK"  # not recorded: saved before
            server = json.loads(await client.download(session_id, "power/server.json"))
            ptd_out = (await client.download(session_id, "run_1/ptd_out.txt")).decode()
            client.writer.close()
            return client, {**server, "ptd_out": ptd_out}

    client, server = run(body)
    assert server["uuid"]["client"] == CLIENT_UUID  # type: ignore[index]
    assert uuid.UUID(server["uuid"]["server"])  # type: ignore[index]
    recorded = server["messages"]
    assert [m["cmd"] for m in recorded] == [m["cmd"] for m in client.messages]  # type: ignore[attr-defined]
    for mine, theirs in zip(client.messages, recorded, strict=True):  # type: ignore[call-overload]
        assert mine["cmd"] == "time" or mine["reply"] == theirs["reply"], (mine, theirs)
    for phase, stamps in client.phases.items():
        theirs = [s[0] for s in server["phases"][phase]]  # type: ignore[index]
        assert len(theirs) == 4 and all(abs(a - b) <= 0.8 for a, b in zip(stamps, theirs, strict=True))
    assert str(server["session_name"]).endswith("_run")  # empty label: the config's label
    assert str(server["ptd_out"]).startswith("Analyzer 1:\nPower: Watts,")
    assert "power/client.log" not in server["results"]  # type: ignore[operator]  # the client's own
