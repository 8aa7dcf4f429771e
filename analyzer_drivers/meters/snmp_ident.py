"""Who a PDU's SNMP agent says it is: the objects the driver asks for once, after discovery, and
how their answers become a ``MeterIdentity`` (``analyzer_drivers.meters.snmp`` does the I/O).

Each object is asked for by one GETNEXT of its OID: a scalar answers with its ``.0`` instance, a
table column with its first row. An object the agent lacks, or answers empty, is an empty field.
The MIB texts (netdisco/netdisco-mibs @27ee78736ffec9b2171eddefafd3f7caa8cb7c4b unless named):

- SNMPv2-MIB (rfc/SNMPv2-MIB.txt): sysDescr {system 1} = 1.3.6.1.2.1.1.1, sysObjectID {system 2}
  = .1.2, "the vendor's authoritative identification … allocated within the SMI enterprises
  subtree (1.3.6.1.4.1)": its enterprise number names the maker (``ENTERPRISES``) where no MIB
  object does.
- APC PowerNet-MIB (apc/powernet.mib): rPDU2IdentTable {rPDU2 2} = .318.1.1.26.2, entry columns
  rPDU2IdentFirmwareRev 6 ("The Rack PDU firmware version"), …ModelNumber 8, …SerialNumber 9; the
  first-generation rPDUIdent {rPDU 1} = .318.1.1.12.1: rPDUIdentFirmwareRev 3, rPDUIdentModelNumber
  5, rPDUIdentSerialNumber 6 ("the serial number of the Rack PDU"). Not the ``SN:`` in an APC
  sysDescr: that is the management card's (AP8641's says 5A26833B4526, its rPDUIdent 3F3452A52295).
- Sentry3-MIB (sentry/Sentry3.mib): systemVersion {systemGroup 1} = .1718.3.1.1 "The firmware
  version of the system"; towerTable {towerGroup 1} = .1718.3.2.1, towerProductSN {towerEntry 6}
  "The product serial number of the tower", towerModelNumber {towerEntry 7}.
- UPS-MIB (RFC 1628, rfc/UPS-MIB.txt): upsIdent {upsObjects 1} = 1.3.6.1.2.1.33.1.1:
  upsIdentManufacturer 1, upsIdentModel 2, upsIdentUPSSoftwareVersion 3 ("The UPS
  firmware/software version(s)"), upsIdentAgentSoftwareVersion 4 ("The UPS agent software
  version", kept as ``agent_software``). The MIB has no serial number.
- ENTITY-MIB (RFC 4133, rfc/ENTITY-MIB.txt): entPhysicalEntry = 1.3.6.1.2.1.47.1.1.1.1:
  entPhysicalClass 5 (chassis(3)), entPhysicalFirmwareRev 9, entPhysicalSoftwareRev 10 (kept as
  ``software``), entPhysicalSerialNum 11, entPhysicalMfgName 12, entPhysicalModelName 13; read
  only when the first row is a chassis(3), and only that row's cells.

Not read: Raritan PDU2-MIB's nameplate (pduManufacturer, pduModel, pduSerialNumber) and Sentry4's
st4Unit model and serial: no recording here holds them, so the OIDs would be unwitnessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer_drivers.formats.identity import MeterIdentity

SYS_DESCR = "1.3.6.1.2.1.1.1"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2"
_ENTERPRISE = "1.3.6.1.4.1."
_APC = "1.3.6.1.4.1.318.1.1"
_UPS = "1.3.6.1.2.1.33.1.1"
_ENTITY = "1.3.6.1.2.1.47.1.1.1.1"
ENTITY_CHASSIS = "3"  # PhysicalClass chassis(3)

#: sysObjectID's enterprise → maker, as each MIB's own text names it (``{ enterprises N }``):
#: powernet.mib (apc), Sentry3.mib ORGANIZATION, ARISTA-SMI-MIB ORGANIZATION, PAN-GLOBAL-REG-MIB
#: ORGANIZATION, MELLANOX-SMI-MIB ORGANIZATION, MG-SNMP-UPS-MIB (merlinGerin), EATON-OIDS, and
#: Raritan's PDU2-MIB (librenms/librenms mibs/raritan/PDU2-MIB @09eac1f151609e9189e70a79cdc6927fe1a22878:
#: ``raritan MODULE-IDENTITY``, ORGANIZATION "Raritan"). Not 8072: NET-SNMP-MIB names the agent's
#: software, not the device's maker; not 935 (XPPC-MIB's ``ppc`` names no organization).
ENTERPRISES = {
    "318": "American Power Conversion", "1718": "Server Technology, Inc.", "13742": "Raritan",
    "30065": "Arista Networks, Inc.", "25461": "Palo Alto Networks",
    "33049": "Mellanox Technologies, Inc.", "705": "Merlin Gerin", "534": "Eaton",
}


@dataclass(frozen=True, slots=True)
class IdentObjects:
    """The OIDs (a scalar without ``.0``, or a column) of one MIB's identity objects; "" for none."""

    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # (key in AnalyzerInfo.extra, OID)
    chassis_class: str = ""  # ENTITY-MIB: entPhysicalClass; only the row it says is a chassis

    def oids(self) -> list[str]:
        named = [self.manufacturer, self.model, self.serial, self.firmware, self.chassis_class]
        return [oid for oid in [*named, *(oid for _, oid in self.extra)] if oid]


IDENT: dict[str, tuple[IdentObjects, ...]] = {
    "apc": (IdentObjects(model=f"{_APC}.26.2.1.8", serial=f"{_APC}.26.2.1.9", firmware=f"{_APC}.26.2.1.6"),
            IdentObjects(model=f"{_APC}.12.1.5", serial=f"{_APC}.12.1.6", firmware=f"{_APC}.12.1.3")),
    "sentry3": (IdentObjects(model="1.3.6.1.4.1.1718.3.2.1.1.7", serial="1.3.6.1.4.1.1718.3.2.1.1.6",
                             firmware="1.3.6.1.4.1.1718.3.1.1"),),
    "ups": (IdentObjects(f"{_UPS}.1", f"{_UPS}.2", firmware=f"{_UPS}.3",
                         extra=(("agent_software", f"{_UPS}.4"),)),),
    "entity": (IdentObjects(f"{_ENTITY}.12", f"{_ENTITY}.13", f"{_ENTITY}.11", f"{_ENTITY}.9",
                            extra=(("software", f"{_ENTITY}.10"),), chassis_class=f"{_ENTITY}.5"),),
}

#: What one GETNEXT answered for each OID asked: (the OID answered, its value as text).
Answers = dict[str, tuple[str, str]]


def ident_oids(family: str) -> list[str]:
    """Every OID to ask for (by GETNEXT) to learn who a ``family`` agent is."""
    return [SYS_DESCR, SYS_OBJECT_ID, *(oid for objects in IDENT.get(family, ()) for oid in objects.oids())]


def _cell(answers: Answers, column: str, row: str | None = None) -> tuple[str, str]:
    """(row index, text) of what the agent answered under ``column``; ("", "") for nothing."""
    answered, text = answers.get(column, ("", ""))
    if not column or not answered.startswith(column + "."):
        return "", ""  # past the object: the agent has none
    index = answered[len(column) + 1:]
    return ("", "") if row is not None and index != row else (index, text)


def _read(objects: IdentObjects, answers: Answers) -> dict[str, str]:
    row = None
    if objects.chassis_class:
        row, kind = _cell(answers, objects.chassis_class)
        if kind != ENTITY_CHASSIS:
            return {}
    fields = {"manufacturer": objects.manufacturer, "model": objects.model, "serial": objects.serial,
              "firmware": objects.firmware, **dict(objects.extra)}
    return {key: _cell(answers, oid, row)[1] for key, oid in fields.items() if oid}


def identity_of(family: str, answers: Answers) -> tuple[MeterIdentity, dict[str, str]]:
    """The identity the answers give (per field, the first MIB listed that answers it), and what
    else the agent said of itself: ``sys_descr``, ``sys_object_id`` and the MIBs' extras."""
    found: dict[str, str] = {}
    for objects in IDENT.get(family, ()):
        for key, text in _read(objects, answers).items():
            found[key] = found.get(key) or text
    object_id = _cell(answers, SYS_OBJECT_ID)[1]
    enterprise = object_id.removeprefix(_ENTERPRISE).split(".")[0] if object_id.startswith(_ENTERPRISE) \
        else ""
    maker = found.pop("manufacturer", "") or ENTERPRISES.get(enterprise, "")
    model, serial, firmware = (found.pop(key, "") for key in ("model", "serial", "firmware"))
    identity = MeterIdentity(maker, model, serial, firmware)
    said = {"sys_descr": _cell(answers, SYS_DESCR)[1], "sys_object_id": object_id, **found}
    return identity, {key: text for key, text in said.items() if text}
