"""The meter registry: every meter type the configuration knows, one line each.

A meter type is one module here: a frozen dataclass subclassing ``AnalyzerConfig`` with its
``type``, its own keys (each with a default and a help line), its checks (``type_problems``) and
``build()`` (its driver). The config loader, ``check-config``, the meter agent's config and the
configuration reference all read ``METER_TYPES``; adding a meter type is its module plus one
line below. ``meter_reference()`` gives each type's keys for a script (the docs generate theirs)::

    python -m power_director.config.meters     # the reference as JSON
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from power_director.config.meters.base import AnalyzerConfig
from power_director.config.meters.ipmi_dcmi import IpmiDcmiConfig
from power_director.config.meters.mqtt_stream import MqttStreamConfig
from power_director.config.meters.nvml import NvmlConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.config.meters.rapl import RaplConfig
from power_director.config.meters.redfish import RedfishConfig
from power_director.config.meters.shelly import ShellyConfig
from power_director.config.meters.snmp import SnmpConfig
from power_director.config.meters.tasmota import TasmotaConfig
from power_director.config.meters.yokogawa import YokogawaConfig

METER_TYPES: dict[str, type[AnalyzerConfig]] = {meter.type: meter for meter in (
    PtdConfig,  # the first is the default type
    YokogawaConfig,
    TasmotaConfig,
    ShellyConfig,
    RaplConfig,
    NvmlConfig,
    RedfishConfig,
    SnmpConfig,
    MqttStreamConfig,
    IpmiDcmiConfig,
)}
DEFAULT_TYPE = next(iter(METER_TYPES))
#: the keys every meter type reads (``type`` and AnalyzerConfig's own fields)
COMMON_METER_KEYS = frozenset({"type", *(f.name for f in dataclasses.fields(PtdConfig)
                                         if f.name in AnalyzerConfig.__dataclass_fields__)})


def own_keys(meter_type: type[AnalyzerConfig]) -> frozenset[str]:
    """The keys a meter type reads beyond the common ones."""
    return frozenset(f.name for f in dataclasses.fields(meter_type)) - COMMON_METER_KEYS


def all_meter_keys() -> frozenset[str]:
    """Every key some meter type reads: a key outside it is unknown, one of another type foreign."""
    return COMMON_METER_KEYS.union(*(own_keys(meter) for meter in METER_TYPES.values()))


def default_meter() -> AnalyzerConfig:
    return METER_TYPES[DEFAULT_TYPE]()


@dataclass(frozen=True)
class KeyDoc:
    name: str
    type: str  # the TOML type: string, integer, number, boolean, array of strings
    default: Any
    help: str


@dataclass(frozen=True)
class MeterDoc:
    type: str
    summary: str
    keys: tuple[KeyDoc, ...]  # its own keys, beside the common ones


_TOML_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
               "tuple[str, ...]": "array of strings"}


def _key_docs(meter_type: type[AnalyzerConfig], names: frozenset[str]) -> tuple[KeyDoc, ...]:
    return tuple(KeyDoc(f.name, _TOML_TYPES.get(str(f.type), str(f.type)), f.default, f.metadata["help"])
                 for f in dataclasses.fields(meter_type) if f.name in names)


def common_key_reference() -> tuple[KeyDoc, ...]:
    """The keys every meter type reads (``type`` itself aside)."""
    return _key_docs(PtdConfig, COMMON_METER_KEYS)


def meter_reference() -> tuple[MeterDoc, ...]:
    """Each meter type: its name, what it is, its own keys with type, default and help."""
    return tuple(MeterDoc(name, (meter.__doc__ or "").strip().splitlines()[0],
                          _key_docs(meter, own_keys(meter))) for name, meter in METER_TYPES.items())


__all__ = ["COMMON_METER_KEYS", "DEFAULT_TYPE", "METER_TYPES", "AnalyzerConfig", "KeyDoc", "MeterDoc",
           "all_meter_keys", "common_key_reference", "default_meter", "meter_reference", "own_keys"]
