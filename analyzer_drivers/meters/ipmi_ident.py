"""Who a BMC says it is: its IPMI Get Device ID reply as ``ipmitool mc info`` and FreeIPMI's
``bmc-info --get-device-id`` print it (``analyzer_drivers.meters.ipmi_dcmi`` runs them).

The format strings, read from the installed binaries (``strings``: ipmitool 1.8.19, FreeIPMI
1.6.10) and matched by the real outputs in tests/fixtures/ipmi_dcmi/ (README.md names them):

- ipmitool: ``Firmware Revision         : %u.%02x``, ``Manufacturer ID           : %lu``,
  ``Manufacturer Name         : %s`` (``Unknown (0x…)`` for an ID its IANA list lacks),
  ``Product ID                : %u (0x%02x%02x)``, ``Product Name              : %s``
  (``Unknown (0x…)`` unless ipmitool knows the product);
- FreeIPMI: ``Firmware Revision     : %u.%02x``, ``Manufacturer ID       : %s (%u)`` (a known
  maker) or ``: %u``, ``Product ID            : %u``; no product name.

Get Device ID has no serial number. ``System Firmware Version`` (Get System Info, which a full
``bmc-info`` also prints) is the host's firmware, not the BMC's: it is not read.
"""

from __future__ import annotations

import re

from analyzer_drivers.formats.identity import MeterIdentity

_NAMED_ID = re.compile(r"(.*?)\s*\((\d+)\)")


def _fields(text: str) -> dict[str, str]:
    """``Key : value`` lines, the first of each key."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip():
            found.setdefault(key.strip(), value.strip())
    return found


def _named(value: str) -> str:
    return "" if value.startswith("Unknown") else value


def parse_bmc_identity(text: str) -> tuple[MeterIdentity, dict[str, str]]:
    """The identity in either tool's Get Device ID output, and the IDs it gives
    (``manufacturer_id``, ``product_id``); empty fields for what it does not say."""
    fields = _fields(text)
    maker, maker_id = _named(fields.get("Manufacturer Name", "")), fields.get("Manufacturer ID", "")
    if match := _NAMED_ID.fullmatch(maker_id):  # FreeIPMI: "Super Micro Computer Inc. (10876)"
        maker, maker_id = maker or match.group(1), match.group(2)
    model, firmware = _named(fields.get("Product Name", "")), fields.get("Firmware Revision", "")
    identity = MeterIdentity(maker, model, "", firmware)
    said = {"manufacturer_id": maker_id, "product_id": fields.get("Product ID", "")}
    return identity, {key: value for key, value in said.items() if value}
