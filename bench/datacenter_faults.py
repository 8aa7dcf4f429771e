"""Faults of the datacenter meters, each in a real Session on loopback (issue 17).

The Redfish driver against sushy-tools' sushy-static (our DMTF-shaped mockup), the SNMP driver
against Debian's snmpsimd (Raritan PDU2-MIB data, SNMPv3 authPriv); real LoadGen Offline. Prints
one row per fault: the session's verdict, reconnects, readings the emulator served while a phase
measured (outside outage faults) and how many of them the raw samples hold, and the failed or
warned checks (the 600 s and informative-meter warnings left out). The same sessions are
``tests/test_redfish.py`` and ``tests/test_snmp.py``.

    python bench/datacenter_faults.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import test_redfish, test_snmp

SKIP = {"mlperf_min_duration", "analyzer_grade", "testing_sample_uncertainty"}


def flags(report: dict[str, Any]) -> str:
    names = [c["name"] for c in report["checks"] if c["status"] != "pass" and c["name"] not in SKIP]
    return ", ".join(names) or "—"


def inside(t_ns: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= t_ns <= b for a, b in spans)


def redfish_row(kind: str, schema: str, source: str, out: Path) -> str:
    report, sim, kept, phases = test_redfish.run_fault_session(out, kind, schema, source)
    served = [s for s in sim.served if s.watts is not None and inside(s.read_t_ns, phases)
              and not inside(s.read_t_ns, sim.outages)]
    lost = len(test_redfish.lost_readings(sim, kept, phases)) if source == "power" else "—"
    return _row("redfish", kind, f"{schema}/{source}", report, len(served), lost, len(kept))


def snmp_row(kind: str, source: str, out: Path) -> str:
    report, sim, kept, phases = test_snmp.run_fault_session(out, kind, source)
    served = [s for s in sim.served if None not in s.powers and inside(s.read_t_ns, phases)
              and not inside(s.read_t_ns, sim.outages)]
    values = {round(w, 3) for w in kept}
    lost = sum(1 for s in served if round(float(sum(v or 0 for v in s.powers)), 3) not in values)
    return _row("snmp", kind, f"raritan/{source}", report, len(served), lost if source == "power" else "—",
                len(kept))


def _row(meter: str, kind: str, how: str, report: dict[str, Any], served: int, lost: object,
         kept: int) -> str:
    verdict = "valid" if report["valid"] else "invalid"
    return f"| {meter} | {kind} | {how} | {verdict} | {served} | {lost} | {kept} | {flags(report)} |"


def main() -> None:
    print("| meter | fault | schema/source | session | served | lost | samples kept | report flags |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for index, (kind, schema, source) in enumerate(test_redfish.FAULT_CASES):
            print(redfish_row(kind, schema, source, Path(tmp) / f"r{index}"), flush=True)
        for index, (kind, source) in enumerate(test_snmp.FAULT_CASES):
            print(snmp_row(kind, source, Path(tmp) / f"s{index}"), flush=True)


if __name__ == "__main__":
    main()
