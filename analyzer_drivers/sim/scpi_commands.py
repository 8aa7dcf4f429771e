"""The WT300E's command set: the header table (short or long forms in any case,
``:NUM:NORM:VAL?`` == ``:numeric:normal:value?``) and a handler for each command; a rejected
command goes to the error queue (``:STAT:ERR?``)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from analyzer_drivers.meters.specs import WT300_UPDATE_INTERVALS_S
from analyzer_drivers.sim.scpi_meter import CREST_FACTORS, Inputs, Wt300Meter
from analyzer_drivers.sim.scpi_syntax import (
    ScpiError,
    eng,
    match_header,
    parse_number,
    parse_on_off,
    undefined_header,
)

Handler = Callable[[int, bool, str], Awaitable[str | None]]


class Wt300Commands(Wt300Meter):
    """Runs command lines on the meter; the server adds what the wire and faults need through
    ``_served_values`` and ``_log_sent``."""

    def _served_values(self) -> dict[tuple[str, str], float] | None:
        """The values a value query reads: the latest update."""
        return self.latest

    def _log_sent(self, values: dict[tuple[str, str], float] | None, items: list[tuple[str, str]]) -> None:
        """A value reply was sent (the server may record it)."""

    async def handle(self, line: str) -> str | None:
        """Run one line (``;``-separated commands); the joined query replies, or None."""
        replies = []
        for command in filter(None, (part.strip() for part in line.split(";"))):
            try:
                reply = await self._run(command)
            except ScpiError as exc:
                self._push_error(exc)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    async def _run(self, command: str) -> str | None:
        header, _, argument = command.partition(" ")
        query = header.endswith("?")
        header = header.rstrip("?")
        for pattern, handler in self._table():
            suffix = match_header(pattern, header)
            if suffix is not None:
                reply = await handler(suffix, query, argument.strip())
                if query and reply is not None and self.header and not pattern.startswith("*"):
                    return f"{pattern.upper().replace('#', str(suffix))} {reply}"
                return reply
        raise undefined_header()

    def _table(self) -> list[tuple[str, Handler]]:
        return [
            ("*IDN", self._idn),
            ("*CLS", self._cls),
            ("*RST", self._rst),
            (":COMMunicate:HEADer", self._setting("header", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:VERBose", self._setting("verbose", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:REMote", self._setting("remote", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:WAIT", self._wait),
            (":NUMeric:FORMat", self._format),
            (":NUMeric:NORMal:NUMber", self._item_count),
            (":NUMeric:NORMal:ITEM#", self._item),
            (":NUMeric:NORMal:VALue", self._value),
            (":INPut:CFACtor", self._crest_factor),
            (":INPut:VOLTage:RANGe", self._range("V")),
            (":INPut:CURRent:RANGe", self._range("A")),
            (":INPut:VOLTage:AUTO", self._auto("V")),
            (":INPut:CURRent:AUTO", self._auto("A")),
            (":RATE", self._rate),
            (":SAMPle:RATE", self._rate),  # yoko-tool's form (intel/yoko-tool _yokobase.py)
            (":SYSTem:COMMunicate:COMMand", self._compat),
            (":STATus:FILTer#", self._filter),
            (":STATus:EESR", self._eesr),
            (":STATus:ERRor", self._error),
        ]

    # --- handlers ---------------------------------------------------------------------------
    async def _idn(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        return self.idn

    async def _cls(self, suffix: int, query: bool, argument: str) -> str | None:
        self.errors.clear()
        self.eesr = 0
        return None

    async def _rst(self, suffix: int, query: bool, argument: str) -> str | None:
        self._reset_settings()
        return None

    def _setting(
        self, name: str, parse: Callable[[str], bool], show: Callable[[bool], str]
    ) -> Handler:
        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            if query:
                return show(getattr(self, name))
            setattr(self, name, parse(argument))
            return None

        return handler

    async def _wait(self, suffix: int, query: bool, argument: str) -> str | None:
        mask = int(parse_number(argument))
        async with self._updated:
            await self._updated.wait_for(lambda: bool(self.eesr & mask))
        return None

    async def _format(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return "ASCII"
        if argument.upper() not in ("ASC", "ASCII"):
            raise ScpiError(-224, "Illegal parameter value")  # FLOat is not simulated
        return None

    async def _item_count(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return str(self.numeric.count)
        count = int(parse_number(argument))
        if not 1 <= count <= 255:
            raise ScpiError(-222, "Data out of range")
        self.numeric.items += [("NONE", "1")] * (count - len(self.numeric.items))
        self.numeric.count = count
        return None

    async def _item(self, suffix: int, query: bool, argument: str) -> str | None:
        if not 1 <= suffix <= 255:
            raise undefined_header()
        self.numeric.items += [("NONE", "1")] * (suffix - len(self.numeric.items))
        if query:
            function, element = self.numeric.items[suffix - 1]
            return f"{function},{element}"
        self.numeric.items[suffix - 1] = self._parse_item(argument)
        return None

    async def _value(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        items = self.numeric.items[: self.numeric.count]
        if argument:
            index = int(parse_number(argument))
            if not 1 <= index <= self.numeric.count:
                raise ScpiError(-222, "Data out of range")
            items = [items[index - 1]]
        values = self._served_values()
        self._log_sent(values, items)
        return ",".join(self._item_text(values, item) for item in items)

    async def _crest_factor(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return self.inputs.crest_factor
        crest_factor = CREST_FACTORS.get(argument.strip().upper())
        if crest_factor is None:
            raise ScpiError(-224, "Illegal parameter value")
        # Changing the crest factor resets the ranges to the largest, auto off.
        self.inputs = Inputs(crest_factor=crest_factor, volts_auto=False, amps_auto=False)
        spec = self._spec()
        self.inputs.volts_range = max(spec.volts_ranges)
        self.inputs.amps_range = max(spec.amps_ranges)
        self._invalidate()
        return None

    def _range(self, unit: str) -> Handler:
        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            attribute = "volts_range" if unit == "V" else "amps_range"
            if query:
                return eng(getattr(self.inputs, attribute))
            value = parse_number(argument, unit)
            ranges = self._spec().volts_ranges if unit == "V" else self._spec().amps_ranges
            if not any(math.isclose(value, r) for r in ranges):
                raise ScpiError(-222, "Data out of range")
            setattr(self.inputs, attribute, value)
            setattr(self.inputs, "volts_auto" if unit == "V" else "amps_auto", False)
            self._invalidate()
            return None

        return handler

    def _auto(self, unit: str) -> Handler:
        attribute = "volts_auto" if unit == "V" else "amps_auto"

        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            if query:
                return str(int(getattr(self.inputs, attribute)))
            setattr(self.inputs, attribute, parse_on_off(argument))
            return None

        return handler

    async def _rate(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return "AUTO" if self.rate_auto else eng(self.update_interval_s)
        if argument.strip().upper() == "AUTO":  # the meter picks (IM WT310E-01EN "Data Update Interval")
            self.rate_auto = True
            return None
        seconds = parse_number(argument, "S")
        if not any(math.isclose(seconds, s) for s in WT300_UPDATE_INTERVALS_S):
            raise ScpiError(-222, "Data out of range")
        self.update_interval_s, self.rate_auto = seconds, False
        self._invalidate()
        return None

    async def _compat(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return self.compat_mode
        mode = argument.strip().upper()
        if mode not in ("WT200", "WT300", "WT300E"):
            raise ScpiError(-224, "Illegal parameter value")
        self.compat_mode = mode
        return None

    async def _filter(self, suffix: int, query: bool, argument: str) -> str | None:
        if not 1 <= suffix <= 16:
            raise undefined_header()
        if query:
            return self.filters.get(suffix, "NEVER")
        word = argument.strip().upper()
        forms = {"RISE": "RISE", "FALL": "FALL", "BOTH": "BOTH", "NEV": "NEVER", "NEVER": "NEVER"}
        if word not in forms:
            raise ScpiError(-224, "Illegal parameter value")
        self.filters[suffix] = forms[word]
        return None

    async def _eesr(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        value, self.eesr = self.eesr, 0
        return str(value)

    async def _error(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        return self.errors.popleft() if self.errors else '0,"No error"'
