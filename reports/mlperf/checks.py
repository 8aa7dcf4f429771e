"""What MLCommons will accept beyond a measurement that is right: the meter and daemon on
its checker's lists, 1000 ms sampling, a calibrated meter. Each is a warning: the session
stays valid for comparison and is not MLPerf-valid, with the reason said.

Sources: power-dev compliance/check.py at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2
(SUPPORTED_MODEL, SUPPORTED_VERSION, the ``Go,1000,`` reply it checks); MLPerf Power rules
(the analyzer calibrated within the year before the run).
"""

from __future__ import annotations

import datetime as dt

from analyzer_drivers.formats.identity import MeterIdentity as MeterIdentity
from analyzer_drivers.formats.identity import meter_identity as meter_identity
from analyzer_drivers.formats.session_meta import AnalyzerRecord, SessionMeta
from reports.checks import Check

#: PTDaemon device type numbers, by the driver name PTDaemon's Identify reports. The ones
#: MLCommons' checker accepts are its SUPPORTED_MODEL (power-dev compliance/check.py at
#: c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2); WT1800 and WT5000 are PTDaemon's numbers
#: (power-dev lib/server.py MAX_RANGE_FOR_DEVICE) that the checker refuses.
MLPERF_DEVICE_TYPES = {
    "YokogawaWT210": 8,
    "YokogawaWT500": 35,
    "YokogawaWT500_multichannel": 48,
    "YokogawaWT310": 49,
    "YokogawaWT310E": 49,
    "YokogawaWT330": 52,
    "YokogawaWT330E": 52,
    "YokogawaWT330_multichannel": 77,
    "YokogawaWT210_DC": 508,
    "YokogawaWT310_DC": 549,
    "YokogawaWT330_DC": 586,
}
#: PTDaemon versions the checker accepts (its SUPPORTED_VERSION).
MLPERF_PTD_VERSIONS = ("1.11.1",)
MLPERF_INTERVAL_MS = 1000
CALIBRATION_VALID_DAYS = 365  # "12 months" (inferred as 365 days: the rule names no calendar)


def mlperf_analyzer(analyzer: AnalyzerRecord) -> Check:
    name, version = analyzer.name or "", analyzer.version or ""
    if "version=" not in (analyzer.identify or ""):
        return Check("mlperf_analyzer", "warning", f"the analyzer {name or 'in use'} is not read through "
                     "SPEC PTDaemon: MLCommons' checker needs PTDaemon's messages")
    if name not in MLPERF_DEVICE_TYPES:
        return Check("mlperf_analyzer", "warning", f"analyzer {name!r} is not a model MLCommons' "
                     "checker accepts (Yokogawa WT210, WT310(E), WT330(E), WT500 and their DC and "
                     "multichannel modes)")
    if version.split("-")[1:2] and version.split("-")[1].startswith("sim"):
        return Check("mlperf_analyzer", "warning", f"{name} answered as power-director's simulator "
                     f"(PTDaemon version {version!r}): a simulated meter is never MLPerf-valid")
    if version.split("-")[0] not in MLPERF_PTD_VERSIONS:
        return Check("mlperf_analyzer", "warning", f"PTDaemon version {version!r} is not one MLCommons "
                     f"accepts ({', '.join(MLPERF_PTD_VERSIONS)})")
    return Check("mlperf_analyzer", "pass", f"{name} through PTDaemon {version}: on MLCommons' lists")


def mlperf_interval(interval_ms: int) -> Check:
    if interval_ms == MLPERF_INTERVAL_MS:
        return Check("mlperf_interval", "pass", "sampled every 1000 ms, as MLPerf Power requires")
    return Check("mlperf_interval", "warning", f"sampled every {interval_ms} ms; MLPerf Power samples "
                 "every 1000 ms")


def mlperf_calibration(calibration_date: str, run_date: dt.date) -> Check:
    name = "mlperf_calibration"
    if not calibration_date:
        return Check(name, "warning", "no analyzer calibration date (set [analyzer] calibration_date): "
                     "MLPerf needs a meter calibrated within 12 months of the run")
    try:
        calibrated = dt.date.fromisoformat(calibration_date)
    except ValueError:
        return Check(name, "warning", f"analyzer calibration date {calibration_date!r} is not YYYY-MM-DD")
    age_days = (run_date - calibrated).days
    if age_days > CALIBRATION_VALID_DAYS:
        return Check(name, "warning", f"analyzer calibrated on {calibrated.isoformat()}, {age_days} days "
                     f"before the run on {run_date.isoformat()}: more than 12 months")
    return Check(name, "pass", f"analyzer calibrated on {calibrated.isoformat()}, within 12 months")


def mlperf_checks(meta: SessionMeta) -> list[Check]:
    analyzer = meta.primary
    began_s = meta.phase("testing").times.began_s
    run_date = (dt.datetime.fromtimestamp(began_s, dt.timezone.utc).date() if began_s is not None
                else dt.datetime.now(dt.timezone.utc).date())
    return [
        mlperf_analyzer(analyzer),
        mlperf_interval(meta.interval_ms if meta.interval_ms is not None else MLPERF_INTERVAL_MS),
        mlperf_calibration(analyzer.calibration_date or "", run_date),
    ]
