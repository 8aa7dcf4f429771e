"""The director service and the SUT agent over real loopback sockets: auth, limits, faults."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadgen_bridge.remote.agent import AgentError, RemoteSession
from loadgen_bridge.remote.wire import Connection, client_handshake
from power_director.config.loader import ConfigError, config_from_dict
from tests.remote_util import (
    CLI,
    ROOT,
    TOKEN,
    Director,
    director_processes,
    quiet_env,
    run,
    running_director,
    session_meta,
    wait_for_line,
    write_detail_log,
)


async def loadgen_stand_in(log_dir: Path, seconds: float = 0.3) -> None:
    begin_ns = time.time_ns()
    await asyncio.sleep(seconds)
    write_detail_log(log_dir, begin_ns, time.time_ns())


def agent(
    director: Director, tmp_path: Path, token: bytes | None = TOKEN, **kw: Any
) -> RemoteSession:
    return RemoteSession(
        "127.0.0.1",
        director.port,
        token=token,
        out_root=tmp_path / "agent",
        say=lambda _: None,
        **kw,
    )


async def full_session(director: Director, tmp_path: Path, **kw: Any) -> RemoteSession:
    async with agent(director, tmp_path, **kw) as session:
        for phase in ("ranging", "testing"):
            async with session.phase(phase) as log_dir:
                await loadgen_stand_in(log_dir)
    return session


async def until_free(director: Director, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while director.service.active is not None:
        assert time.monotonic() < deadline, f"director still busy with {director.service.active}"
        await asyncio.sleep(0.05)


# --- the in-process API, end to end ----------------------------------------------------------
def test_in_process_api_runs_a_session_and_downloads_it(tmp_path: Path) -> None:
    async def body() -> RemoteSession:
        async with running_director(tmp_path) as director:
            return await full_session(director, tmp_path, label="api")

    session = run(body)
    result = session.result
    assert result is not None and result.status == "completed" and result.valid, result
    report = json.loads((result.session_dir / "report.json").read_text())
    assert report["power"]["avg_watts"] == pytest.approx(150.0)
    assert abs(report["clock"]["offset_ms"]) < report["clock"]["bound_ms"] + 1.0
    assert report["clock"]["bound_ms"] < 2.0
    assert (result.session_dir / "run_1" / "mlperf_log_detail.txt").is_file()


# --- authentication --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "message"),
    [(b"a-wrong-token-of-enough-length", "authentication failed"), (None, "requires a token")],
)
def test_wrong_or_no_token_is_refused(tmp_path: Path, token: bytes | None, message: str) -> None:
    async def body() -> tuple[str, str | None]:
        async with running_director(tmp_path) as director:
            with pytest.raises(AgentError) as caught:
                await full_session(director, tmp_path, token=token)
            return str(caught.value), director.service.active

    text, active = run(body)
    assert message in text and active is None
    assert "wrong-token" not in text and TOKEN.decode() not in text


def test_agent_with_a_token_refuses_a_director_without_auth(tmp_path: Path) -> None:
    async def body() -> str:
        async with running_director(tmp_path, token_file="") as director:
            with pytest.raises(AgentError) as caught:
                await full_session(director, tmp_path)
            return str(caught.value)

    assert "does not authenticate" in run(body)


def test_director_refuses_a_public_address_without_a_token() -> None:
    with pytest.raises(ConfigError, match="without token_file"):
        config_from_dict({"service": {"host": "0.0.0.0"}})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"service": {"hots": "127.0.0.1"}})
    with pytest.raises(ConfigError, match="give both or neither"):
        config_from_dict({"service": {"tls_cert": "c.pem"}})
    with pytest.raises(ConfigError, match="not an IP address"):
        config_from_dict({"service": {"v3_allowed_addresses": ["sut.lab"]}})


# --- limits ----------------------------------------------------------------------------------
async def _read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 5)


def test_an_oversized_message_gets_an_error_and_the_door(tmp_path: Path) -> None:
    async def body() -> bytes:
        async with running_director(tmp_path, max_message_bytes=4096) as director:
            reader, writer = await asyncio.open_connection("127.0.0.1", director.port)
            writer.write(b'{"type": "hello", "pad": "' + b"x" * 100_000)
            answer = await _read_all(reader)
            writer.close()
            return answer

    answer = json.loads(run(body).decode().splitlines()[0])
    assert answer["type"] == "error" and "over 4096 bytes" in answer["message"]


def test_a_slow_loris_is_cut_off_while_others_are_served(tmp_path: Path) -> None:
    """Its hello would take 25 s to drip in; the director's 1 s limit cuts it off long before,
    and serves a proper client meanwhile. What shows it is the order of events, not the clock:
    a busy machine may take seconds to answer, but never the loris's 25 s."""
    async def body() -> tuple[bytes, str, bool, bool]:
        async with running_director(tmp_path, handshake_timeout_s=1.0) as director:
            reader, writer = await asyncio.open_connection("127.0.0.1", director.port)
            # One line comes back; a byte written after the director closed would reset the
            # connection and could drop it unread, so the loris stops once it has its answer.
            answer_task = asyncio.create_task(asyncio.wait_for(reader.readline(), 60))
            sent_all = asyncio.Event()

            async def drip() -> None:
                for byte in b'{"type": "hello", "protocol": "power-director/1"}':
                    if answer_task.done():
                        return
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.5)
                sent_all.set()

            dripping = asyncio.create_task(drip())
            # Meanwhile a proper client is served.
            r2, w2 = await asyncio.open_connection("127.0.0.1", director.port)
            welcome = await client_handshake(
                Connection(r2, w2, max_message_bytes=65536, read_timeout_s=60), TOKEN
            )
            served_meanwhile = not sent_all.is_set()
            w2.close()
            answer = await answer_task
            cut_off_before_its_end = not sent_all.is_set()
            dripping.cancel()
            writer.close()
            return answer, welcome["type"], served_meanwhile, cut_off_before_its_end

    answer, welcome, served_meanwhile, cut_off = run(body, timeout_s=120)
    assert welcome == "welcome" and served_meanwhile
    assert b"no complete message within 1 s" in answer
    assert cut_off


def test_a_second_client_is_told_the_director_is_busy(tmp_path: Path) -> None:
    async def body() -> tuple[str, str]:
        async with running_director(tmp_path) as director:
            async with agent(director, tmp_path, label="first") as first:
                async with first.phase("ranging") as log_dir:
                    with pytest.raises(AgentError) as caught:
                        async with agent(director, tmp_path / "2", label="second"):
                            pass
                    await loadgen_stand_in(log_dir, 0.1)
                async with first.phase("testing") as log_dir:
                    await loadgen_stand_in(log_dir, 0.1)
            assert first.result is not None
            return str(caught.value), first.result.status

    busy, status = run(body)
    assert "busy" in busy and "first" in busy
    assert status == "completed"


def test_an_upload_outside_the_whitelist_is_refused(tmp_path: Path) -> None:
    async def body() -> str:
        async with running_director(tmp_path) as director:
            with pytest.raises(AgentError) as caught:
                async with (
                    agent(director, tmp_path) as session,
                    session.phase("ranging") as log_dir,
                ):
                    await loadgen_stand_in(log_dir, 0.1)
                    await session.channel.send_file(
                        "../../evil.txt", log_dir / "mlperf_log_detail.txt"
                    )
                    await session._serve_until("file_ok")
            await until_free(director)
            return str(caught.value)

    text = run(body)
    assert "refused file '../../evil.txt'" in text
    assert not list(tmp_path.rglob("evil.txt"))
    meta = session_meta(tmp_path / "director-runs")
    assert meta["status"] == "aborted"


# --- faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize("phase", ["ranging", "testing"])
def test_agent_disconnect_mid_phase_aborts_keeps_samples_and_frees_the_director(
    tmp_path: Path, phase: str
) -> None:
    async def body() -> RemoteSession:
        async with running_director(tmp_path / "d") as director:
            session = agent(director, tmp_path)
            await session.__aenter__()
            if phase == "testing":
                async with session.phase("ranging") as log_dir:
                    await loadgen_stand_in(log_dir, 0.1)
            with pytest.raises(ConnectionAbortedError):
                async with session.phase(phase):
                    await asyncio.sleep(0.3)  # the meter is sampling now
                    session.channel.writer.transport.abort()
                    raise ConnectionAbortedError
            await until_free(director)
            meta = session_meta(director.out_root)
            assert meta["status"] == "aborted"
            assert phase in str(meta["error"]) and "closed the connection" in str(meta["error"])
            assert sum(meta["samples"].values()) >= 4  # type: ignore[attr-defined]
            return await full_session(director, tmp_path / "next", label="next")

    following = run(body)
    assert following.result is not None and following.result.status == "completed"


def test_director_vanishing_mid_phase_stops_the_agent_with_one_line(tmp_path: Path) -> None:
    script = (
        "import os, time, json; d = os.environ['POWER_DIRECTOR_LOG_DIR']; time.sleep(1.5);"
        "open(os.path.join(d, 'mlperf_log_detail.txt'), 'w').write('kept')"
    )
    with director_processes(tmp_path, interval_ms=100) as (port, _, serve):
        agent_cmd = [
            *CLI,
            "sut-agent",
            "--director",
            f"127.0.0.1:{port}",
            "--token-file",
            str(tmp_path / "token"),
            "--out",
            str(tmp_path / "agent"),
            "--",
            sys.executable,
            "-c",
            script,
        ]
        child = subprocess.Popen(
            agent_cmd,
            cwd=ROOT,
            env=quiet_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        wait_for_line(child.stdout, "ranging phase")
        serve.kill()
        serve.wait()
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("power-director: error: director 127.0.0.1:"), (
        stderr
    )
    assert "LoadGen logs kept in" in lines[0]
    (kept,) = (tmp_path / "agent").glob("*-sut-logs/ranging/mlperf_log_detail.txt")
    assert kept.read_text() == "kept"


# --- TLS -------------------------------------------------------------------------------------
def test_tls_session(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    async def body() -> str:
        async with running_director(tmp_path, tls_cert=str(cert), tls_key=str(key)) as director:
            tls = ssl.create_default_context(cafile=str(cert))
            session = await full_session(director, tmp_path, tls=tls)
            with pytest.raises(AgentError):  # plain TCP against a TLS director
                await full_session(director, tmp_path / "plain")
            assert session.result is not None
            return session.result.status

    assert run(body) == "completed"
