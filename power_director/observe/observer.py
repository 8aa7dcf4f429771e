"""Watching a session from outside: a small observer interface the session calls into.

Observers are plain synchronous callbacks that must not block (they hand work to their
own tasks). A failing observer is reported once and never affects the measurement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from reports.model.report import SessionReport

log = logging.getLogger(__name__)


class SessionObserver(Protocol):
    def on_state(self, phase: str, meta: SessionMeta) -> None:
        """A phase started (``ranging``, ``testing``, ``testing_2``…) or the session ended
        (``completed``, ``aborted``); ``meta`` is the session's ``session.json`` as of now."""

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        """A batch of samples arrived from one analyzer during a phase."""

    def on_result(self, report: SessionReport) -> None:
        """The final report was written."""


class Observers:
    """Fans one call out to every observer; an observer's exception stays here."""

    def __init__(self, observers: Sequence[SessionObserver] = ()) -> None:
        self._observers = list(observers)
        self._failed: set[int] = set()

    def _each(self, method: str, *args: Any) -> None:
        for index, observer in enumerate(self._observers):
            try:
                getattr(observer, method)(*args)
            except Exception as exc:
                if index not in self._failed:
                    self._failed.add(index)
                    log.warning("observer %s failed in %s: %s", type(observer).__name__, method, exc)

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        self._each("on_state", phase, meta)

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        self._each("on_samples", analyzer, samples)

    def on_result(self, report: SessionReport) -> None:
        self._each("on_result", report)


def phase_elapsed_s(meta: SessionMeta, phase: str, now_s: float) -> float | None:
    """Seconds since ``phase`` started (its first stamp), from the session's meta."""
    began_s = meta.phase(phase).times.began_s
    return now_s - began_s if began_s is not None else None


def expected_duration_s(meta: SessionMeta, phase: str) -> float | None:
    """How long ``phase`` should take: a testing run lasts about as long as ranging did
    (or the run before it); ranging itself has nothing to go by."""
    if phase == "ranging":
        return None
    times = meta.phase("ranging").times
    if times.stopped_s is None:
        times = meta.phase("testing").times
    if times.began_s is None or times.stopped_s is None:
        return None
    return times.stopped_s - times.began_s
