"""SIGINT/SIGTERM for the commands that measure: cancel the work so each session stops its
analyzers, restores the ranges and keeps (or, having measured nothing, removes) its
directory; then one line that says what was kept and where."""

from __future__ import annotations

import signal
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer_drivers.formats.errors import PowerDirectorError

if TYPE_CHECKING:  # annotations only: ``power-director --help`` loads no report model
    from analyzer_drivers.formats.sample import Sample
    from analyzer_drivers.formats.session_meta import SessionMeta
    from reports.model.report import SessionReport

ENDED = ("completed", "aborted")


class Interrupted(PowerDirectorError):
    """SIGINT or SIGTERM stopped the command; the message says what was kept."""


class SessionTracker:
    """A session observer that remembers which sessions were measuring, so an interrupted
    command can name the directories it kept (a session aborted before its first sample
    removes its own)."""

    def __init__(self, out_root: Path = Path(".")) -> None:
        self.out_root = out_root  # the command sets it once it has read its config
        self.states: dict[str, str] = {}
        self._in_progress: list[str] | None = None  # frozen when the signal arrives

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        self.states[meta.session_name or ""] = phase

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        """Samples do not change what is kept: the session's own abort decides."""

    def on_result(self, report: SessionReport) -> None:
        """A completed session is already in ``states``."""

    def freeze(self) -> None:
        """The sessions measuring now are the ones the signal interrupts."""
        if self._in_progress is None:
            self._in_progress = [name for name, state in self.states.items() if state not in ENDED]

    def kept(self) -> list[Path]:
        """Directories of interrupted (or, before ``freeze``, unfinished) sessions still on disk."""
        names = self._in_progress
        if names is None:
            names = [name for name, state in self.states.items() if state != "completed"]
        return [self.out_root / name for name in names if (self.out_root / name).is_dir()]

    def completed(self) -> list[Path]:
        return [self.out_root / name for name, state in self.states.items() if state == "completed"]


def interrupted_text(command: str, signal_name: str, tracker: SessionTracker | None) -> str:
    """One line: what the signal stopped and where what was measured is."""
    kept = tracker.kept() if tracker is not None else []
    if kept:
        return f"stopped by {signal_name}; raw data kept in {', '.join(map(str, kept))}"
    if command == "sim":
        return f"sim stopped by {signal_name}"
    if command == "serve":
        return f"serve stopped by {signal_name}; no session was measuring"
    if command == "sut-agent":
        return f"stopped by {signal_name}; what the director measured stays on the director"
    completed = tracker.completed() if tracker is not None else []
    if completed:
        return (f"stopped by {signal_name} before the next session's first sample (no directory "
                f"kept for it); completed: {', '.join(map(str, completed))}")
    return f"stopped by {signal_name} before the first sample; no session directory kept"


async def cancellable(
    work: Coroutine[Any, Any, int], command: str, tracker: SessionTracker | None = None
) -> int:
    """Run ``work``; SIGINT/SIGTERM cancel it, and ``Interrupted`` says what was kept."""
    import asyncio  # here, not above: ``power-director --help`` needs no event loop

    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def cancel(name: str) -> None:
        if tracker is not None:
            tracker.freeze()
        received.append(name)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, cancel, signum.name)
    try:
        return await task
    except asyncio.CancelledError:
        if received:
            raise Interrupted(interrupted_text(command, received[0], tracker)) from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
