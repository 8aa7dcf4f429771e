"""The meter registry (power_director/config/meters/): a meter type is one module and one line
in METER_TYPES, and everything that reads meters (the config loader, check-config's effective
config, the meter agent's config, the reference for the docs) follows the table."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer_drivers.base import Analyzer
from analyzer_drivers.meters.ptd import PtdAnalyzer
from power_director.config.agent import agent_config_from_dict
from power_director.config.loader import ConfigError, config_from_dict, load_config
from power_director.config.meters import (
    COMMON_METER_KEYS,
    METER_TYPES,
    AnalyzerConfig,
    common_key_reference,
    meter_reference,
    own_keys,
)
from power_director.config.meters.base import key
from power_director.config.tables import ExtraAnalyzer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True, kw_only=True)
class ToyConfig(AnalyzerConfig):
    """A meter type the product does not have: one module's worth, registered by one line."""

    type = "toy"
    toy_port: int = key(7000, "the toy's port")

    def type_problems(self) -> list[str]:
        return [] if self.toy_port > 1024 else [f"[analyzer] toy_port {self.toy_port} must be above 1024"]

    def build(self) -> Analyzer:
        return PtdAnalyzer("127.0.0.1", self.toy_port)


@pytest.fixture
def with_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METER_TYPES, ToyConfig.type, ToyConfig)  # the one line


def test_a_new_meter_type_is_read_everywhere_from_its_one_line(with_toy: None) -> None:
    config = config_from_dict({"analyzer": {"type": "toy", "toy_port": 7100, "interval_ms": 500},
                               "extra_analyzer": [{"type": "toy", "role": "beside"}]})
    assert config.analyzer == ToyConfig(toy_port=7100, interval_ms=500)
    assert config.extra_analyzers == (ExtraAnalyzer("beside", ToyConfig()),)
    assert config.settings()["analyzer"] == {"type": "toy", **dataclasses.asdict(ToyConfig(toy_port=7100,
                                                                                          interval_ms=500))}
    assert isinstance(config.analyzer.build(), PtdAnalyzer)
    with pytest.raises(ConfigError, match=r"toy_port is not a key of type 'ptd' meters"):
        config_from_dict({"analyzer": {"type": "ptd", "toy_port": 7100}})
    two = r"2 problems: .*toy_port 80 must be above 1024; .*host is not a key"
    with pytest.raises(ConfigError, match=two):
        agent_config_from_dict({"agent": {"id": "a"}, "meter": [{"name": "m", "type": "toy", "toy_port": 80},
                                                               {"name": "n", "type": "toy", "host": "x"}]})
    assert "toy" in [doc.type for doc in meter_reference()]


def test_an_unknown_type_lists_the_registry(with_toy: None) -> None:
    with pytest.raises(ConfigError, match=r"type 'wattsup' is not known; use one of ptd, .*, toy$"):
        config_from_dict({"analyzer": {"type": "wattsup"}})


def test_every_key_has_a_type_a_default_and_help() -> None:
    assert {k.name for k in common_key_reference()} == COMMON_METER_KEYS - {"type"}
    for doc in meter_reference():
        assert doc.summary, doc.type
        assert {k.name for k in doc.keys} == own_keys(METER_TYPES[doc.type])
        for k in doc.keys:
            assert k.help and k.type in ("string", "integer", "number", "boolean", "array of strings"), k


def test_the_reference_prints_as_json() -> None:
    out = subprocess.run([sys.executable, "-m", "power_director.config.meters"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    reference = json.loads(out)
    assert [t["type"] for t in reference["types"]] == list(METER_TYPES)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_every_example_loads_as_its_type(example: str) -> None:
    """The keys users write did not change: each example is still a valid config."""
    config = load_config(EXAMPLES / example)
    assert type(config.analyzer) is METER_TYPES[config.analyzer.type]
    assert config.validate() is config


def test_the_meter_agent_lists_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        agent_config_from_dict({"agent": {"id": "a/b", "broker": "h:0"},
                                "meter": [{"name": "m", "sim_watts": -1},
                                          {"name": "m", "type": "yokogawa", "resource": "nope"}]})
    message = str(caught.value)
    assert message.startswith("5 problems: ") and "\n" not in message
    for part in ("[agent] id 'a/b' must be", "broker 'h:0' is not HOST:PORT",
                 "sim_watts must be a number ≥ 0",
                 "resource 'nope' is not a VISA resource string", "two [[meter]] tables share a name"):
        assert part in message
