"""Read PTDaemon-format sample files (``spl.txt``, PTDaemon ``-l`` logs) into arrays."""

from __future__ import annotations

import dataclasses
import io
import mmap
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats import ptd_scan
from analyzer_drivers.formats.errors import FormatError
from analyzer_drivers.formats.ptd_line import line_channels, parse_line
from analyzer_drivers.formats.sample import Sample

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_BLOCK_BYTES = 1 << 22
_THREADS = min(2, os.cpu_count() or 1)
_Block = TypeVar("_Block")


class SplError(FormatError):
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
    #: Each sample's channel groups (tuples of ``Channel``), when read (``with_channels``).
    channels: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.t_ns)

    def take(self, index: npt.NDArray[Any]) -> PowerSeries:
        """The samples picked by a boolean mask or an integer index array."""
        return PowerSeries(
            self.t_ns[index], self.watts[index], self.volts[index], self.amps[index],
            self.pf[index], self.marks[index], None if self.channels is None else self.channels[index],
        )

    def samples(self) -> list[Sample]:
        """Each sample as the drivers pass it, with its channels when they were read."""
        channels = self.channels if self.channels is not None else [()] * len(self)
        return [Sample(int(t), float(w), float(v), float(a), float(pf), tuple(c)) for t, w, v, a, pf, c
                in zip(self.t_ns, self.watts, self.volts, self.amps, self.pf, channels, strict=True)]

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
    return _scan(text.encode("utf-8", "replace"), None, None, watts_only=False)


def with_channels(path: Path, series: PowerSeries) -> PowerSeries:
    """``series`` (``read_spl(path)``) with each sample's channel groups, read line by line as
    ``parse_line`` reads the sums (a group that does not parse is none); ``series`` as it was
    when the file no longer lines up with it."""
    if not _has_channels(path):
        return series  # one channel: nothing more to read (a fast meter's file is large)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise SplError(f"cannot read {path}: {exc}") from None
    stamps, channels = [], []
    for line in lines:
        parsed = parse_line(line)
        if parsed is not None:
            stamps.append(parsed[0])
            channels.append(line_channels(line))
    if len(stamps) != len(series) or not np.array_equal(np.asarray(stamps, np.int64), series.t_ns):
        return series
    column = np.empty(len(channels), dtype=object)
    column[:] = channels
    return dataclasses.replace(series, channels=column)


def _has_channels(path: Path) -> bool:
    """Whether the file's first sample line has channel groups."""
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            first = next((line for line in stream if parse_line(line) is not None), "")
    except OSError as exc:
        raise SplError(f"cannot read {path}: {exc}") from None
    return bool(line_channels(first))


def read_spl(
    path: Path, begin_ns: int | None = None, end_ns: int | None = None, *, watts_only: bool = False
) -> PowerSeries:
    """The samples of a file in file order; with bounds, only those stamped within
    ``[begin_ns, end_ns]``. The file is mapped and scanned in blocks, so the memory used follows
    the samples kept. ``watts_only`` leaves volts, amps and PF NaN and marks empty, for speed."""
    if not path.is_file():
        raise SplError(f"no sample file at {path}")
    with path.open("rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            return PowerSeries.empty()
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return _scan(mapped, begin_ns, end_ns, watts_only=watts_only)


class MappedSamples:
    """A sample file mapped once: its series (scanned once, on first use) and its text lines,
    for everything that is derived from one file (a session's ``raw/`` journal at its finish)."""

    def __init__(self, data: bytes | mmap.mmap) -> None:
        self._data = data
        self._series: PowerSeries | None = None

    @property
    def series(self) -> PowerSeries:
        if self._series is None:
            self._series = _scan(self._data, None, None, watts_only=False)
        return self._series

    def text_lines(self) -> Iterator[str]:
        """The lines as ``open(path, encoding="utf-8", errors="replace")`` gives them."""
        yield from io.TextIOWrapper(io.BufferedReader(_MappedStream(self._data)), encoding="utf-8",
                                    errors="replace")


class _MappedStream(io.RawIOBase):
    """Mapped bytes read as a stream, without a copy of the whole mapping."""

    def __init__(self, data: bytes | mmap.mmap) -> None:
        self._data, self._offset = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        chunk = self._data[self._offset : self._offset + memoryview(buffer).nbytes]
        memoryview(buffer).cast("B")[: len(chunk)] = chunk
        self._offset += len(chunk)
        return len(chunk)


@contextmanager
def mapped_samples(path: Path) -> Iterator[MappedSamples]:
    """``path`` opened and mapped once, for as long as the ``with`` block lasts."""
    if not path.is_file():
        raise SplError(f"no sample file at {path}")
    with path.open("rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            yield MappedSamples(b"")
            return
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield MappedSamples(mapped)


def _scan(
    data: bytes | mmap.mmap, begin_ns: int | None, end_ns: int | None, *, watts_only: bool
) -> PowerSeries:
    if watts_only:
        watts_parts = _map_blocks(ptd_scan.scan_block_watts, data, begin_ns, end_ns)
        t_ns = np.concatenate([t for t, _ in watts_parts] or [np.empty(0, np.int64)])
        watts = np.concatenate([w for _, w in watts_parts] or [np.empty(0)])
        nan = np.full(len(t_ns), np.nan)
        return PowerSeries(t_ns, watts, nan, nan, nan, np.full(len(t_ns), "", dtype=object))
    blocks = _map_blocks(ptd_scan.scan_block, data, begin_ns, end_ns)
    if not blocks:
        return PowerSeries.empty()
    return PowerSeries(*(np.concatenate(column) for column in zip(*blocks, strict=True)))


def _map_blocks(
    scan: Callable[[ptd_scan.Bytes, int, int | None, int | None], _Block],
    data: bytes | mmap.mmap, begin_ns: int | None, end_ns: int | None,
) -> list[_Block]:
    """``scan`` of every block, in file order, on up to ``_THREADS`` threads (numpy lets go of
    the GIL while it works on a block)."""
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(lambda block: scan(block[0], block[1], begin_ns, end_ns), _blocks(data)))


def _blocks(data: bytes | mmap.mmap) -> Iterator[tuple[ptd_scan.Bytes, int]]:
    """Whole lines, about ``_BLOCK_BYTES`` at a time: (bytes from the block's first line on,
    with at least ``PAD_BYTES`` after its last newline; the block's size). Only the last block
    is copied. A line longer than a block is skipped."""
    size, start = len(data), 0
    while start < size:
        stop = min(start + _BLOCK_BYTES, size)
        cut = data.rfind(b"\n", start, stop) + 1
        if cut == 0 and stop < size:
            start = data.find(b"\n", stop) + 1 or size
            continue
        if cut + ptd_scan.PAD_BYTES <= size:
            yield np.frombuffer(data, np.uint8, cut + ptd_scan.PAD_BYTES - start, start), cut - start
            start = cut
            continue
        tail = bytes(data[start:size]) + (b"" if data[size - 1 : size] == b"\n" else b"\n")
        yield np.frombuffer(tail + bytes(ptd_scan.PAD_BYTES), np.uint8), len(tail)
        return
