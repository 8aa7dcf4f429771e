"""The results store: an index of every session under an output directory.

The session directories stay the source of truth; the index (``index.sqlite`` in the
output directory) is derived from them and can be rebuilt at any time. ``ResultsStore`` is
the interface ``ls``, ``compare`` and ``sessions_frame`` use, so another backend (a shared
database) can stand behind it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import REPORT_JSON, SESSION_META
from reports.model.report import SessionReport
from reports.model.results import SessionResult, is_session_dir, load_session

INDEX_FILE = "index.sqlite"
SCHEMA_VERSION = 2  # 2: system is the system under test


@dataclass(frozen=True, slots=True)
class Query:
    """Filters for ``ResultsStore.query``: each None matches everything; text filters match
    a substring, case-insensitive."""

    scenario: str | None = None
    label: str | None = None
    meter: str | None = None
    system: str | None = None
    status: str | None = None
    valid: bool | None = None
    newest_first: bool = True
    limit: int | None = None


@runtime_checkable
class ResultsStore(Protocol):
    """Where indexed sessions live. Rows are ``SessionResult`` without ``report``/``meta``."""

    def add(self, session_dir: Path, built: SessionReport | None = None) -> SessionResult: ...

    def sync(self, root: Path) -> int: ...

    def rebuild(self, root: Path) -> int: ...

    def query(self, query: Query = ...) -> list[SessionResult]: ...

    def close(self) -> None: ...


# Columns: every SessionResult field but the two dicts; ``problems`` joined by newlines.
COLUMNS = tuple(f.name for f in fields(SessionResult) if f.name not in ("report", "meta"))
_TYPES = {"valid": "INTEGER", "mlperf_valid": "INTEGER", "repeat_n": "INTEGER", "value": "REAL",
          "uncertainty": "REAL", "avg_watts": "REAL", "energy_j": "REAL", "duration_s": "REAL",
          "efficiency": "REAL", "repeat_mean": "REAL", "repeat_half_width": "REAL"}
_TEXT_FILTERS = ("scenario", "label", "meter", "system", "status")


def _signature(session_dir: Path) -> str:
    """What changes when a session's result does: its two files' sizes and times."""
    parts = []
    for name in (REPORT_JSON, SESSION_META):
        with contextlib.suppress(OSError):
            stat = (session_dir / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ";".join(parts)


def _to_row(result: SessionResult, signature: str) -> tuple[Any, ...]:
    values = []
    for name in COLUMNS:
        value = getattr(result, name)
        if name == "path":
            value = str(value)
        elif name == "problems":
            value = "\n".join(value)
        elif isinstance(value, bool):
            value = int(value)
        values.append(value)
    return (*values, signature)


def select_sql(
    query: Query, mark: str, clauses: Sequence[str] = (), params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """The ``SELECT`` of the sessions ``query`` asks for, with ``mark`` as the driver's parameter
    placeholder (``?`` for SQLite, ``%s`` for PostgreSQL), after any ``clauses`` of the caller."""
    where, values = list(clauses), list(params)
    for name in _TEXT_FILTERS:
        wanted = getattr(query, name)
        if wanted is not None:
            where.append(f"LOWER({name}) LIKE {mark}")
            values.append(f"%{wanted.lower()}%")
    if query.valid is not None:
        where.append(f"valid = {mark}")
        values.append(int(query.valid))
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    order = "DESC" if query.newest_first else "ASC"
    limit = f"LIMIT {int(query.limit)}" if query.limit else ""
    sql = (f"SELECT {', '.join(COLUMNS)} FROM sessions {condition} "
           f"ORDER BY started {order}, session {order} {limit}")
    return sql, values


def _from_row(row: Sequence[Any]) -> SessionResult:
    values = dict(zip(COLUMNS, row, strict=False))
    values["path"] = Path(values["path"])
    values["valid"] = bool(values["valid"])
    values["mlperf_valid"] = bool(values["mlperf_valid"])
    values["problems"] = tuple(p for p in (values["problems"] or "").split("\n") if p)
    return SessionResult(**values)


def session_dirs(root: Path) -> list[Path]:
    """The session directories directly under ``root``."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and is_session_dir(p))


class IndexedStore(ABC):
    """What every backend shares: ``add``, ``sync`` and ``rebuild`` over four row operations
    of the backend's own (the rows it owns: all of them for SQLite, one director's for
    PostgreSQL)."""

    @abstractmethod
    def _known(self) -> dict[str, str]:
        """The rows this store owns: resolved path → signature."""

    @abstractmethod
    def _put(self, results: Sequence[tuple[SessionResult, str]]) -> None:
        """Insert or replace these rows (a session and its signature)."""

    @abstractmethod
    def _drop(self, paths: Sequence[str]) -> None:
        """Delete the rows of these resolved paths."""

    @abstractmethod
    def _forget(self) -> None:
        """Delete every row this store owns."""

    def add(self, session_dir: Path, built: SessionReport | None = None) -> SessionResult:
        result = load_session(session_dir, built)
        self._put([(result, _signature(session_dir))])
        return result

    def sync(self, root: Path) -> int:
        """Index what changed under ``root`` since the last sync, drop what is gone from it;
        returns the number of sessions (re)read. An unreadable session is skipped, never fatal."""
        known = self._known()
        present = {str(p.resolve()): p for p in session_dirs(root)}
        changed = []
        for resolved, session_dir in present.items():
            signature = _signature(session_dir)
            if known.get(resolved) != signature:
                with contextlib.suppress(ReportError):
                    changed.append((load_session(session_dir), signature))
        self._put(changed)
        resolved_root = root.resolve()
        self._drop([p for p in known if p not in present and Path(p).parent == resolved_root])
        return len(changed)

    def rebuild(self, root: Path) -> int:
        """Forget every row this store owns and index every session under ``root`` again."""
        self._forget()
        return self.sync(root)


class SqliteStore(IndexedStore):
    """The embedded backend: one SQLite file, written only by this class."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path)
            self._create()
        except sqlite3.Error as exc:
            raise ReportError(f"cannot open the results index {path}: {exc}") from exc

    @classmethod
    def at(cls, out_dir: Path) -> SqliteStore:
        """The index of the sessions under ``out_dir`` (created there if missing)."""
        if not out_dir.is_dir():
            raise ReportError(f"no output directory at {out_dir}")
        return cls(out_dir / INDEX_FILE)

    def _create(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self._db.execute("DROP TABLE IF EXISTS sessions")  # derived data: rebuilt from the dirs
        columns = ", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in COLUMNS)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS sessions ({columns}, signature TEXT, "
                         "PRIMARY KEY (path))")
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.commit()

    def _put(self, results: Sequence[tuple[SessionResult, str]]) -> None:
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))
        with self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO sessions VALUES ({marks})",
                                 [_to_row(r, s) for r, s in results])

    def _known(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT path, signature FROM sessions").fetchall())

    def _drop(self, paths: Sequence[str]) -> None:
        with self._db:
            self._db.executemany("DELETE FROM sessions WHERE path = ?", [(p,) for p in paths])

    def _forget(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions")

    def query(self, query: Query = Query()) -> list[SessionResult]:
        sql, params = select_sql(query, "?")
        return [_from_row(row) for row in self._db.execute(sql, params).fetchall()]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def index_session(session_dir: Path, built: SessionReport | None = None) -> None:
    """Add a session to the index of its output directory (``built``: its report, just
    written). The index is derived data: a failure here never costs a measurement (``ls``
    re-syncs from the directories)."""
    failures = (ReportError, sqlite3.Error, OSError)
    with contextlib.suppress(*failures), SqliteStore.at(session_dir.parent) as store:
        store.add(session_dir, built)
