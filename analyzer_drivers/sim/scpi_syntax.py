"""SCPI syntax for the simulated WT300: header matching (short/long forms), numbers with
units, ON/OFF, the error-queue entry, and the meter's number formats."""

from __future__ import annotations

import re

from analyzer_drivers.formats.errors import PowerDirectorError


class ScpiError(PowerDirectorError):
    """A rejected command: goes to the error queue as ``<code>,"<message>"``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f'{code},"{message}"')


def undefined_header() -> ScpiError:
    return ScpiError(-113, "Undefined header")


# --- SCPI header matching ------------------------------------------------------------------
def _node_forms(node: str) -> tuple[str, str]:
    """``NUMeric`` → (``NUM``, ``NUMERIC``): the short form is the upper-case part."""
    return "".join(c for c in node if c.isupper() or c == "*"), node.upper()


def match_header(pattern: str, header: str) -> int | None:
    """Match ``header`` to ``pattern`` (``:STATus:FILTer#``); the ``#`` suffix or None."""
    nodes = pattern.lstrip(":").split(":")
    tokens = header.lstrip(":").upper().split(":")
    if len(nodes) != len(tokens):
        return None
    suffix = 1
    for node, token in zip(nodes, tokens, strict=True):
        if node.endswith("#"):
            found = re.fullmatch(r"([A-Z*]+)(\d*)", token)
            if found is None:
                return None
            token, digits = found.groups()
            node = node[:-1]
            suffix = int(digits) if digits else 1
        if token not in _node_forms(node):
            return None
    return suffix


_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:E[-+]?\d+)?)\s*(M?[AVS])?", re.IGNORECASE)


def parse_number(text: str, unit: str = "") -> float:
    """An NRf with an optional unit: ``300``, ``0.5A``, ``50MA``, ``250MS``."""
    found = _NUMBER.fullmatch(text.strip())
    if found is None or (found.group(2) and found.group(2).upper()[-1] != unit):
        raise ScpiError(-104, "Data type error")
    value = float(found.group(1))
    return value / 1000 if found.group(2) and len(found.group(2)) == 2 else value


def parse_on_off(text: str) -> bool:
    word = text.strip().upper()
    if word not in ("ON", "OFF", "1", "0"):
        raise ScpiError(-104, "Data type error")
    return word in ("ON", "1")


def nr3(value: float) -> str:
    return f"{value:.4E}"


def eng(value: float) -> str:
    """A range as a real WT300 answers it: 4 significant digits, an exponent that is a multiple
    of 3 (``:CURR:RANG?`` → ``500.0E-03``, ``:VOLT:RANG?`` → ``300.0E+00``: PTDaemon's log of a
    WT310E, fixtures/real-submissions/v2.0_Krai_*/power/ptd_logs.txt)."""
    if value == 0:
        return "0.000E+00"
    exponent = 0
    while abs(value) >= 1000:
        value, exponent = value / 1000, exponent + 3
    while abs(value) < 1:
        value, exponent = value * 1000, exponent - 3
    digits = 3 - len(str(int(abs(value))))
    return f"{value:.{digits + 1}f}E{exponent:+03d}"
