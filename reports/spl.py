"""Read PTDaemon-format sample files (``spl.txt``, PTDaemon ``-l`` logs) into arrays."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer_drivers.timefmt import MLPERF_TIME_FORMAT

_EPOCH = pd.Timestamp("1970-01-01")
_COLUMNS = 12  # Time,t,Watts,w,Volts,v,Amps,a,PF,pf,Mark,m (channels after them are not read here)
# pandas < 3 parses floats approximately unless asked; pandas 3 is exact and deprecates the option.
# Exact parsing gives the same floats as Python's float(), as MLCommons' checker parses.
_EXACT_FLOATS: dict[str, str] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


class SplError(Exception):
    """A sample file is missing or holds no readable samples."""


@dataclass(frozen=True)
class PowerSeries:
    """Samples as columns, in file order. ``t_ns`` is UTC epoch ns (ms resolution in spl.txt).

    File order matters: MLCommons sums watts in file order, and float sums depend on it.
    """

    t_ns: npt.NDArray[np.int64]
    watts: npt.NDArray[np.float64]
    volts: npt.NDArray[np.float64]
    amps: npt.NDArray[np.float64]
    pf: npt.NDArray[np.float64]
    marks: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.t_ns)

    def take(self, index: npt.NDArray[Any]) -> PowerSeries:
        """The samples picked by a boolean mask or an integer index array."""
        return PowerSeries(
            self.t_ns[index], self.watts[index], self.volts[index], self.amps[index],
            self.pf[index], self.marks[index],
        )

    def sorted_by_time(self) -> PowerSeries:
        return self.take(np.argsort(self.t_ns, kind="stable"))

    def with_mark(self, mark: str) -> PowerSeries:
        return self.take(self.marks == mark)

    @classmethod
    def empty(cls) -> PowerSeries:
        floats = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, np.int64), floats, floats, floats, floats, np.empty(0, object))


def parse_spl_text(text: str) -> PowerSeries:
    """Parse sample lines; other lines (NOTICE, ERROR, raw buffers) are skipped."""
    # Short lines (no mark, or torn by a crash) are padded to the 12 columns read; the
    # bad values in a torn one become NaN.
    lines = [line + "," * max(0, _COLUMNS - 1 - line.count(","))
             for line in text.splitlines() if line.startswith("Time,")]
    if not lines:
        return PowerSeries.empty()
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            header=None,
            usecols=range(_COLUMNS),
            names=[f"c{i}" for i in range(_COLUMNS)],
            dtype={"c1": str, "c11": str},
            on_bad_lines="skip",
            engine="c",
            **_EXACT_FLOATS,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise SplError(f"unreadable sample lines: {exc}") from exc
    stamps = pd.to_datetime(frame["c1"], format=MLPERF_TIME_FORMAT, errors="coerce")
    keep = stamps.notna().to_numpy()
    t_ns = (stamps[keep] - _EPOCH).to_numpy(dtype="timedelta64[ns]").astype(np.int64)

    def column(name: str) -> npt.NDArray[np.float64]:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        return np.asarray(values[keep], dtype=np.float64)

    marks = frame["c11"].fillna("").to_numpy(dtype=object)[keep]
    return PowerSeries(t_ns, column("c3"), column("c5"), column("c7"), column("c9"), marks)


def read_spl(path: Path) -> PowerSeries:
    if not path.is_file():
        raise SplError(f"no sample file at {path}")
    return parse_spl_text(path.read_text(encoding="utf-8", errors="replace"))
