"""The marks channel: how a measured command names its phases and reports its work.

The director makes a named pipe (FIFO) and passes its path in ``POWER_DIRECTOR_MARKS``. The
command writes plain-text lines to it, each opened, written and closed, so a shell script can
``echo mark decode > "$POWER_DIRECTOR_MARKS"``:

- ``mark NAME [T_NS]``: phase NAME begins (the previous one ends). ``T_NS``: when, in UTC epoch
  ns (``power_director.mark`` sends it); without it, the time the director read the line.
- ``work N [UNIT]``: N more units of work (tokens, images…).
- ``sim-load X``: with ``--meter sim`` only, the command's simulated load from now on (0..1).

Lines are read on a thread as they arrive; after the command ends the director writes a stop
line of its own, so every line the command wrote before it exited is read (a pipe keeps order).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

MARKS_ENV = "POWER_DIRECTOR_MARKS"
_STOP = b"\x00power-director-stop\n"
MAX_LINE_BYTES = 4096
MAX_KEPT_ERRORS = 20

#: Called on the reader thread with (words, read time ns) for each line; returns whether it
#: understood the line.
LineHandler = Callable[[list[str], int], bool]


class MarksChannel:
    """A FIFO in a private temporary directory, read on a thread while a command runs."""

    def __init__(self, handle: LineHandler) -> None:
        self._handle = handle
        self._dir = Path(tempfile.mkdtemp(prefix="power-director-marks-"))
        self.path = self._dir / "marks"
        os.mkfifo(self.path, 0o600)
        # Read-write: the pipe never reports end-of-file between two writers.
        self._fd = os.open(self.path, os.O_RDWR)
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True, name="power-director-marks")
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line + b"\n" == _STOP:
                    return
                self._line(line, time.time_ns())
            if len(pending) > MAX_LINE_BYTES:
                self._error(pending[:80].decode("utf-8", "replace") + "… (line too long)")
                pending = b""

    def _line(self, raw: bytes, read_ns: int) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            understood = self._handle(text.split(), read_ns)
        except Exception as exc:  # a bad line never stops the reader; it is reported
            self._error(f"{text[:80]} ({exc})")
            return
        if not understood:
            self._error(text[:80])

    def _error(self, text: str) -> None:
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(text)

    def close(self) -> None:
        """Read every line written so far, then stop the reader and remove the pipe."""
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                os.write(self._fd, _STOP)
            self._thread.join()
        os.close(self._fd)
        shutil.rmtree(self._dir, ignore_errors=True)
