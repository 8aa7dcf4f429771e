"""pandas views of results: one row per session, one row per sample."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from analyzer_drivers.formats.session_layout import analyzer_of, raw_sample_paths
from reports.model.results import SessionResult, load_session
from reports.spl import SplError, read_spl
from reports.store.sqlite import COLUMNS, Query, ResultsStore

#: The columns of ``sessions_frame``, in order (the headline first).
FRAME_COLUMNS = COLUMNS
SAMPLE_COLUMNS = ("analyzer", "phase", "time", "t_ns", "watts", "volts", "amps", "pf", "mark")


def _results(source: ResultsStore | Iterable[Path | str | SessionResult],
             query: Query | None) -> list[SessionResult]:
    if isinstance(source, ResultsStore):
        return source.query(query or Query())
    return [s if isinstance(s, SessionResult) else load_session(s) for s in source]


def sessions_frame(source: ResultsStore | Iterable[Path | str | SessionResult],
                   query: Query | None = None) -> pd.DataFrame:
    """One row per session, from session directories (in the order given) or a store (its
    query order). ``problems`` is joined with "; "; ``path`` is a string."""
    rows = []
    for result in _results(source, query):
        row = {name: getattr(result, name) for name in FRAME_COLUMNS}
        row["path"] = str(row["path"])
        row["problems"] = "; ".join(row["problems"])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    frame["started"] = pd.to_datetime(frame["started"], utc=True, format="ISO8601")
    return frame


def samples_frame(session: SessionResult | Path | str) -> pd.DataFrame:
    """Every sample the session journaled (``raw/``), one row each, with its analyzer and
    phase (``ranging``, ``testing``, ``testing_2``…; ``None`` for an unknown mark)."""
    result = session if isinstance(session, SessionResult) else load_session(session)
    phases = {str(p.mark): name for name, p in result.meta.phases.items()}
    frames = []
    for path in raw_sample_paths(result.path):
        try:
            series = read_spl(path)
        except SplError:
            continue
        frame = pd.DataFrame({
            "analyzer": analyzer_of(path),
            "phase": [phases.get(str(mark)) for mark in series.marks],
            "time": pd.to_datetime(series.t_ns, unit="ns", utc=True),
            "t_ns": series.t_ns, "watts": series.watts, "volts": series.volts,
            "amps": series.amps, "pf": series.pf, "mark": series.marks.astype(str),
        })
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(SAMPLE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(SAMPLE_COLUMNS)]
