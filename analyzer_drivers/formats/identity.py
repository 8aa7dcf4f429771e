"""Who a meter says it is: vendor, model, serial (or a plug's id) and firmware, as each meter
family's identify reply gives them. The drivers parse their own replies into ``MeterIdentity``
(``AnalyzerInfo.identity``); this module reads the two replies a Yokogawa family gives:
``*IDN?`` and PTDaemon's ``Identify``."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """A meter's vendor, model, serial (a plug's id: its MAC), firmware and calibration date as
    its identity reply reports them; "" for what it does not report."""

    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    calibration_date: str = ""


def meter_identity(raw: str) -> MeterIdentity:
    """From PTDaemon's Identify (``...,<cal date>,YOKOGAWA;WT310;C2PH13047V;F1.03``) or a
    ``*IDN?`` reply (``YOKOGAWA,WT310,C2PH13047V,F1.03``)."""
    fields = raw.strip().split(",")
    if ";" in fields[-1]:
        idn = fields[-1].split(";")
        cal = fields[-2] if len(fields) >= 2 and re.fullmatch(r"\d{4}-\d\d-\d\d", fields[-2]) else ""
    else:
        idn, cal = fields, ""
    maker, model, serial, firmware = (part.strip() for part in [*idn, "", "", "", ""][:4])
    return MeterIdentity(maker, model, serial, firmware, cal)
