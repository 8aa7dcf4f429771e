"""A throwaway PostgreSQL cluster (Debian ``postgresql``) for the results-store tests.

``initdb`` then ``pg_ctl start`` on a free loopback port with its unix socket in the cluster's
own directory (PostgreSQL manual, "initdb" and "pg_ctl" reference pages). PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` user the Debian package creates
and is run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.mqtt_broker import free_port


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


INITDB, PG_CTL = _tool("initdb"), _tool("pg_ctl")


def _runner() -> list[str] | None:
    """How to run the server: as ourselves, or as root through runuser as ``postgres``."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None


MISSING_REASON = (
    "PostgreSQL is not installed (apt-get install -y postgresql)" if not (INITDB and PG_CTL)
    else "running as root without a 'postgres' user and runuser to run PostgreSQL as"
)
AVAILABLE = bool(INITDB and PG_CTL) and _runner() is not None


class Postgres:
    def __init__(self) -> None:
        runner = _runner()
        assert INITDB and PG_CTL and runner is not None, MISSING_REASON
        self.runner = runner
        # Not under pytest's 0700 root-owned tmp: the postgres user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="pd-pg-"))
        if runner:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self.data = self.directory / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql://pd@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.runner, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        self._run(str(INITDB), "-D", str(self.data), "-U", "pd", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.directory} -c fsync=off")
        self._run(str(PG_CTL), "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run(str(PG_CTL), "-D", str(self.data), "-m", "immediate", "-w", "stop")  # may be gone
        shutil.rmtree(self.directory, ignore_errors=True)
