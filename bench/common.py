"""What every bench script reports to ``bench/run_all.py``: figures next to their targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``met`` is None where the issue sets no target."""

    name: str
    value: str
    target: str = "—"
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**not met**", None: "—"}[self.met]


def figure_table(figures: Iterable[Figure]) -> str:
    lines = ["| figure | value | target | |", "|---|---|---|---|"]
    lines += [f"| {f.name} | {f.value} | {f.target} | {f.verdict} |" for f in figures]
    return "\n".join(lines)


def all_met(figures: Iterable[Figure]) -> bool:
    return all(f.met is not False for f in figures)
