"""The results store on PostgreSQL: one database for a lab, the same interface as ``SqliteStore``.

Selected by a URL (``[session] results_url = "postgresql://user@host:5432/db"``; libpq's URL
syntax, with ``?host=/path`` for a unix socket). Several directors write at once: each row is
keyed by (source, path), ``source`` being the director's name (its host name by default), so the
same path on two machines is two sessions, and one director's ``sync`` never drops another's rows.
The session directories stay the source of truth; the table is rebuilt from them at any time.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reports.build.session_report import ReportError
from reports.model.results import SessionResult
from reports.store.sqlite import (
    COLUMNS,
    INDEX_FILE,
    IndexedStore,
    Query,
    ResultsStore,
    SqliteStore,
    _from_row,
    _to_row,
    select_sql,
)

_TYPES = {"valid": "INTEGER", "mlperf_valid": "INTEGER", "repeat_n": "INTEGER"}
_FLOATS = {"value", "uncertainty", "avg_watts", "energy_j", "duration_s", "efficiency", "repeat_mean",
           "repeat_half_width"}
_DDL_LOCK = 0x5044_5253  # an advisory lock: two directors creating the table at once


def _column_type(name: str) -> str:
    return "DOUBLE PRECISION" if name in _FLOATS else _TYPES.get(name, "TEXT")


class PostgresStore(IndexedStore):
    """``ResultsStore`` on a PostgreSQL server (psycopg 3)."""

    def __init__(self, url: str, source: str | None = None, connect_timeout_s: int = 10) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ReportError("a postgresql:// results store needs psycopg: "
                              "pip install 'power-director[postgres]'") from exc
        self.source = source or socket.gethostname()
        self._errors = (psycopg.Error,)
        try:
            self._db = psycopg.connect(url, connect_timeout=connect_timeout_s, autocommit=True)
            self._create()
        except psycopg.Error as exc:
            raise ReportError(f"cannot open the results store {_redacted(url)}: {_one_line(exc)}") from exc

    def _create(self) -> None:
        columns = ", ".join(f"{name} {_column_type(name)}" for name in COLUMNS)
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            self._db.execute(f"CREATE TABLE IF NOT EXISTS sessions (source TEXT NOT NULL, {columns}, "
                             "signature TEXT, PRIMARY KEY (source, path))")

    def _put(self, results: Sequence[tuple[SessionResult, str]]) -> None:
        if not results:
            return
        names = ", ".join(("source", *COLUMNS, "signature"))
        marks = ", ".join(["%s"] * (len(COLUMNS) + 2))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in (*COLUMNS, "signature") if n != "path")
        sql = (f"INSERT INTO sessions ({names}) VALUES ({marks}) "
               f"ON CONFLICT (source, path) DO UPDATE SET {updates}")
        with self._guard(), self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(sql, [(self.source, *_to_row(r, s)) for r, s in results])

    def _known(self) -> dict[str, str]:
        """This director's rows only: another director's are never dropped by this one's sync."""
        with self._guard():
            mine = "SELECT path, signature FROM sessions WHERE source = %s"
            return dict(self._db.execute(mine, (self.source,)).fetchall())

    def _drop(self, paths: Sequence[str]) -> None:
        with self._guard(), self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany("DELETE FROM sessions WHERE source = %s AND path = %s",
                               [(self.source, p) for p in paths])

    def _forget(self) -> None:
        with self._guard(), self._db.transaction():
            self._db.execute("DELETE FROM sessions WHERE source = %s", (self.source,))

    def query(self, query: Query | None = None, every_source: bool = True) -> list[SessionResult]:
        """Sessions matching ``query``, of every director (or only this one's)."""
        own = (["source = %s"], [self.source]) if not every_source else ([], [])
        sql, params = select_sql(query or Query(), "%s", *own)
        with self._guard():
            rows = self._db.execute(sql, params).fetchall()
        return [_from_row(row) for row in rows]

    def sources(self) -> dict[str, int]:
        """Sessions per director."""
        with self._guard():
            rows = self._db.execute("SELECT source, COUNT(*) FROM sessions GROUP BY source").fetchall()
        return {str(source): int(count) for source, count in rows}

    @contextlib.contextmanager
    def _guard(self) -> Any:
        try:
            yield
        except self._errors as exc:
            raise ReportError(f"results store: {_one_line(exc)}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_store(url: str, out_dir: Path, source: str | None = None) -> ResultsStore:
    """The store a config names: empty → the SQLite index in ``out_dir``; ``postgresql://…``."""
    if not url or url.startswith("sqlite:"):
        return SqliteStore.at(out_dir) if not url else SqliteStore(Path(url.removeprefix("sqlite:")))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, source)
    raise ReportError(f"results store URL {_redacted(url)!r} is not postgresql://… or sqlite:PATH "
                      f"(empty: {INDEX_FILE} in the output directory)")


def _redacted(url: str) -> str:
    """A URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())
