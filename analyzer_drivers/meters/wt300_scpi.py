"""The Yokogawa WT300/WT300E command set over pyvisa (docs/protocols.md#yokogawa-wt300): ``Wt300`` is the
manual's command table, blocking, one method or property per command; ``parse_values``
reads a numeric reply."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, overload

import pyvisa
import pyvisa.errors
import pyvisa.resources

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.sample import ERROR_READING

SETUP_COMMANDS = ("*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON", ":NUM:FORM ASCII", ":COMM:REM ON")
OVER_RANGE = 9.9e37  # "9.9E+37": the input is over its range
NO_DATA = 9.91e37  # "9.91E+37": no data for this item
SUM_ELEMENT = "SIGMA"

T = TypeVar("T")


class Control(Generic[T]):
    """One setting: its query, its set command (``{}`` takes the value) and its value type."""

    def __init__(
        self, query: str, command: str, parse: Callable[[str], T], format: Callable[[T], str] = str
    ) -> None:
        self.query, self.command, self.parse, self.format = query, command, parse, format

    @overload
    def __get__(self, meter: None, owner: type[Wt300]) -> Control[T]: ...
    @overload
    def __get__(self, meter: Wt300, owner: type[Wt300]) -> T: ...
    def __get__(self, meter: Wt300 | None, owner: type[Wt300]) -> T | Control[T]:
        if meter is None:
            return self
        reply = meter.ask(self.query)
        try:
            return self.parse(reply)
        except ValueError as exc:
            raise AnalyzerError(
                f"{meter.where} answered {self.query!r} with {reply[:80]!r}"
            ) from exc

    def __set__(self, meter: Wt300, value: T) -> None:
        meter.send(self.command.format(self.format(value)))


def crest_factor_reply(reply: str) -> str:
    """A ``:INP:CFAC?`` reply: 3, 6, or 6A (also written A6; IM WT310E-01EN: "crest factor 3,
    6 or 6A"). ValueError for anything else."""
    text = reply.strip().upper()
    if crest_factor_name(text) is None:
        raise ValueError(reply)
    return text


def crest_factor_name(text: str) -> str | None:
    """``3``, ``6`` or ``6A`` for a crest-factor text, None when it is none of them."""
    return {"3": "3", "6": "6", "6A": "6A", "A6": "6A"}.get(text.strip().upper())


def _on_off(reply: str) -> bool:
    if reply.strip().upper() not in ("0", "1", "ON", "OFF"):
        raise ValueError(reply)
    return reply.strip().upper() in ("1", "ON")


def _on_off_text(value: bool) -> str:
    return "ON" if value else "OFF"


def _nr(value: float) -> str:
    """A decimal with a point (``1.0``, ``0.005``): what every SCPI parser takes as NRf."""
    return str(float(value))


class Wt300:
    """The WT300E commands we use, as the manual lists them. Blocking; thread-safe."""

    # Set it first: it resets ranges. Read back as the meter says it (3, 6, 6A or A6) so the
    # restore sends what was there.
    crest_factor = Control(":INP:CFAC?", ":INP:CFAC {}", crest_factor_reply)
    volts_range = Control(":INP:VOLT:RANG?", ":INP:VOLT:RANG {}", float, _nr)
    amps_range = Control(":INP:CURR:RANG?", ":INP:CURR:RANG {}", float, _nr)
    volts_auto = Control(":INP:VOLT:AUTO?", ":INP:VOLT:AUTO {}", _on_off, _on_off_text)
    amps_auto = Control(":INP:CURR:AUTO?", ":INP:CURR:AUTO {}", _on_off, _on_off_text)
    item_count = Control(":NUM:NORM:NUM?", ":NUM:NORM:NUM {}", int)

    def __init__(
        self, resource: pyvisa.resources.MessageBasedResource, where: str, rate_header: str
    ) -> None:
        self.resource = resource
        self.where = where
        self.rate_header = rate_header
        self.on_exchange: Callable[[str, str, int, int], None] | None = None
        self.failed = False  # the link failed (not a rejected command): nothing more to say on it
        self._lock = threading.Lock()

    # --- the wire ----------------------------------------------------------------------
    def send(self, command: str) -> None:
        self._exchange(command, expect_reply=False)

    def ask(self, query: str, *, accepted: bool = False) -> str:
        """``accepted``: a query the meter has answered before, so a timeout means the meter
        or the link is gone (no error queue to ask)."""
        return self._exchange(query, expect_reply=True, accepted=accepted)

    def _exchange(self, command: str, expect_reply: bool, accepted: bool = False) -> str:
        with self._lock:
            sent_ns = time.time_ns()
            try:
                self.resource.write(command)
                reply = self.resource.read().strip() if expect_reply else ""
            except pyvisa.errors.VisaIOError as exc:
                raise AnalyzerError(self._explain(command, exc, accepted)) from exc
            except UnicodeDecodeError as exc:
                self.failed = True
                raise AnalyzerError(f"{self.where} answered {command!r} with bytes that are not ASCII "
                                    f"({exc.object[:40]!r})") from exc
            except OSError as exc:
                self.failed = True
                raise AnalyzerError(f"{self.where} failed during {command!r}: {exc}") from exc
        if self.on_exchange is not None:
            self.on_exchange(command, reply, sent_ns, time.time_ns())
        return reply

    def _explain(self, command: str, exc: pyvisa.errors.VisaIOError, accepted: bool) -> str:
        self.failed = True
        if exc.error_code != pyvisa.constants.StatusCode.error_timeout:
            return f"{self.where} failed during {command!r}: {exc.description}"
        # A SCPI meter stays silent on a query it rejects; its error queue says why.
        # (pyvisa-py reports a closed socket as a timeout too.)
        detail = "" if accepted else self._error_queue()
        timeout_s = self.resource.timeout / 1000
        return f"{self.where} did not answer {command!r} within {timeout_s:g} s{detail}"

    def _error_queue(self) -> str:
        """The meter's first queued error; empty when it cannot be asked (the link failed)."""
        try:
            self.resource.write(":STAT:ERR?")
            reply = self.resource.read().strip()
        except (pyvisa.errors.VisaIOError, OSError, UnicodeDecodeError):
            return ""
        self.failed = False
        return f" (meter error: {reply})"

    # --- commands ------------------------------------------------------------------------
    def identity(self) -> str:
        return self.ask("*IDN?")

    def setup(self) -> None:
        for command in SETUP_COMMANDS:
            self.send(command)
        self.check_errors("setup")

    def check_errors(self, during: str) -> None:
        """Read the error queue; raise with the first error it holds."""
        reply = self.ask(":STAT:ERR?")
        code = reply.split(",", 1)[0].strip()
        if code not in ("0", "+0"):
            raise AnalyzerError(f"{self.where} reported an error during {during}: {reply[:120]}")

    def compat_mode(self) -> str:
        """The command-set compatibility mode: WT300E (or WT300 on the original series) for the
        commands we send; WT200 changes them (yoko-tool sets ``:SYST:COMM:COMM WT300``)."""
        return self.ask(":SYST:COMM:COMM?").strip().upper()

    def update_interval_text(self) -> str:
        """The update interval as the meter says it: seconds, or ``AUTO``."""
        return self.ask(f"{self.rate_header}?").strip()

    def update_interval_s(self) -> float | None:
        """The update interval in seconds; None when it is AUTO."""
        text = self.update_interval_text()
        return None if text.upper() == "AUTO" else _parse_float(text, self.where, self.rate_header)

    def set_update_interval_s(self, seconds: float | str) -> None:
        """Seconds, or a text the meter gave (``AUTO``, ``500.0E-03``) sent back as it was."""
        self.send(f"{self.rate_header} {seconds if isinstance(seconds, str) else _nr(seconds)}")

    def items(self) -> list[str]:
        return [self.ask(f":NUM:NORM:ITEM{n}?") for n in range(1, self.item_count + 1)]

    def set_items(self, items: Sequence[str]) -> None:
        self.item_count = len(items)
        for n, item in enumerate(items, start=1):
            self.send(f":NUM:NORM:ITEM{n} {item}")

    def arm_update_wait(self) -> None:
        """Make bit 0 of the extended event register mean 'a data update completed'."""
        self.send(":STAT:FILT1 FALL")

    def read_fresh_values(self) -> list[float]:
        """Wait for the next data update, then read every numeric item."""
        self.ask(":STAT:EESR?", accepted=True)  # reading clears the register
        self.send(":COMM:WAIT 1")
        return parse_values(self.ask(":NUM:NORM:VAL?", accepted=True), self.where)

    def go_local(self) -> None:
        self.send(":COMM:REM OFF")


def _parse_float(reply: str, where: str, query: str) -> float:
    try:
        return float(reply)
    except ValueError as exc:
        raise AnalyzerError(f"{where} answered {query}? with {reply[:80]!r}") from exc


def parse_values(reply: str, where: str = "the meter") -> list[float]:
    """``:NUM:NORM:VAL?`` NR3 list → floats; over-range → the -1 error sentinel, no data → NaN.

    In ASCII format over-range reads ``INF`` and no data ``NAN`` (IM WT310E-17EN, numeric
    data format; docs/protocols.md#real-devices); 9.9E+37 and 9.91E+37 are the binary codes, taken too.
    """
    values = []
    for text in reply.split(","):
        word = text.strip().upper().lstrip("+-")
        if word == "INF":
            values.append(ERROR_READING)
            continue
        try:
            value = float(text)
        except ValueError as exc:
            raise AnalyzerError(f"{where} sent a malformed numeric reply: {reply[:120]!r}") from exc
        magnitude = abs(value)
        if magnitude >= NO_DATA * 0.9995 or math.isnan(value):
            values.append(math.nan)
        elif magnitude >= OVER_RANGE * 0.9995:
            values.append(ERROR_READING)
        else:
            values.append(value)
    return values
