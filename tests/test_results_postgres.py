"""The results store on a real PostgreSQL server started by the test: two director processes
record their sessions at once; concurrent syncs of one director's directory; bad URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from analyzer_drivers.formats.errors import ReportError
from reports.store.postgres import PostgresStore, open_store
from reports.store.sqlite import Query, session_dirs
from tests.fleet_util import ROOT
from tests.postgres_server import AVAILABLE, MISSING_REASON, Postgres

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=MISSING_REASON)


@pytest.fixture(scope="module")
def postgres() -> object:
    server = Postgres().start()
    yield server
    server.stop()


def _director(url: str, source: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pg_director", url, source, str(out), "2"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_two_directors_record_their_sessions_at_once(postgres: Postgres, tmp_path: Path) -> None:
    outs = {source: tmp_path / source for source in ("director-a", "director-b")}
    directors = {source: _director(postgres.url, source, out) for source, out in outs.items()}
    for source, process in directors.items():
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, (source, output.decode()[-2000:])

    with PostgresStore(postgres.url, source="reader") as store:
        assert store.sources() == {"director-a": 2, "director-b": 2}
        for source, out in outs.items():
            rows = store.query(Query(label=f"pg-{source}", newest_first=False))
            assert [r.path for r in rows] == [d.resolve() for d in session_dirs(out)]
            for row in rows:
                report = json.loads((row.path / "report.json").read_text())
                assert row.avg_watts == report["testing"]["power"]["avg_watts"]  # a double, exactly
                assert row.status == "completed" and row.scenario == "SingleStream"
        assert len(store.query(Query(label="pg-director", limit=3))) == 3


def test_concurrent_syncs_of_one_directory(postgres: Postgres, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    process = _director(postgres.url, "director-c", out)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output.decode()[-2000:]
    errors: list[BaseException] = []

    def sync(rebuild: bool) -> None:
        try:
            with PostgresStore(postgres.url, source="director-c") as store:
                for _ in range(3):
                    store.rebuild(out) if rebuild else store.sync(out)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(k % 2 == 0,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with PostgresStore(postgres.url, source="director-c") as store:
        assert store.sources()["director-c"] == 2
        for gone in session_dirs(out)[:1]:
            (gone / "report.json").rename(gone / "report.json.moved")
            (gone / "session.json").rename(gone / "session.json.moved")
        assert store.sync(out) == 0
        assert len(store.query(Query(label="pg-director-c"), every_source=False)) == 1


def test_bad_urls_are_one_line_errors(postgres: Postgres, tmp_path: Path) -> None:
    redacted = r"^cannot open the results store postgresql://pd:\*\*\*@127\.0\.0\.1:1/x: "
    with pytest.raises(ReportError, match=redacted) as e:
        open_store("postgresql://pd:hunter2@127.0.0.1:1/x", tmp_path)
    assert "hunter2" not in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ReportError, match=r"is not postgresql://… or sqlite:PATH"):
        open_store("mysql://h/db", tmp_path)
