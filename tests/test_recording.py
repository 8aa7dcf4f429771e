"""Every entry point records its sessions the same way (``Session.run`` →
``power_director.session.recording``): the SQLite index beside them and the lab's results store
that ``[session] results_url`` names. Before, only ``run`` reached the lab's store."""

from __future__ import annotations

import sys
from pathlib import Path

from reports.store.sqlite import INDEX_FILE, SqliteStore
from tests.conftest import run_cli
from tests.remote_util import run, running_director
from tests.test_cli import ptd_sim, write_config  # noqa: F401  (ptd_sim: a fixture)
from tests.test_service import full_session


def test_a_serve_session_lands_in_the_lab_store(tmp_path: Path) -> None:
    lab = tmp_path / "lab" / "results.sqlite"
    lab.parent.mkdir()

    async def body() -> Path:
        async with running_director(tmp_path, results_url=f"sqlite:{lab}") as director:
            session = await full_session(director, tmp_path, label="served")
            assert session.result is not None and session.result.status == "completed", session.result
            return director.out_root

    out_root = run(body)
    (session_dir,) = [p for p in out_root.iterdir() if p.is_dir()]
    with SqliteStore(lab) as store:
        (row,) = store.query()
    assert (row.path, row.label, row.status, row.valid) == (session_dir, "served", "completed", True)
    with SqliteStore.at(out_root) as index:  # and the index beside the sessions, as before
        assert [r.path for r in index.query()] == [session_dir]


def test_run_keeps_the_session_when_the_lab_store_refuses_it(ptd_sim: int, tmp_path: Path) -> None:  # noqa: F811
    missing = tmp_path / "no-such-dir" / "results.sqlite"
    config = write_config(tmp_path, ptd_sim, f'results_url = "sqlite:{missing}"\n')
    result = run_cli("run", "--config", str(config), "--label", "kept", "--out", str(tmp_path / "runs"),
                     "--", sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                     "--seconds", "1", "--accelerator")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"power-director: error: cannot open the results index {missing}: ")
    (session_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert (session_dir / "report.json").is_file() and not missing.exists()
    with SqliteStore.at(tmp_path / "runs") as index:
        assert [r.status for r in index.query()] == ["completed"]
    assert (tmp_path / "runs" / INDEX_FILE).is_file()
