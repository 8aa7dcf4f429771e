"""Config errors a person can act on: every problem at once, a suggestion for a near-miss key,
keys of another meter type refused, human type names, an empty file refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from power_director.config.loader import ConfigError, config_from_dict, load_config
from power_director.config.meters import METER_TYPES, meter_reference, own_keys
from power_director.config.meters.redfish import RedfishConfig
from power_director.config.meters.snmp import SnmpConfig
from power_director.config.meters.yokogawa import YokogawaConfig
from tests.conftest import run_cli


def test_every_problem_is_reported_at_once_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "director.toml"
    config.write_text('[analyzer]\ntype = "ptd"\nprot = 8888\ninterval_ms = "1000"\n'
                      '[sesion]\nlabel = "x"\n[service]\nport = 99999\n', encoding="utf-8")
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("power-director: error: 4 problems: ")
    assert "unknown section [sesion] (did you mean [session]?)" in message
    assert "[analyzer] has an unknown key 'prot' (did you mean 'port'?)" in message
    assert "[analyzer] interval_ms must be an integer, not str '1000'" in message
    assert "[service] port 99999 is not a TCP port" in message


def test_a_key_of_another_meter_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[analyzer\] url is not a key of type 'ptd' meters"):
        config_from_dict({"analyzer": {"type": "ptd", "url": "https://bmc"}})
    with pytest.raises(ConfigError, match=r"\[extra_analyzer\] resource is not a key of type 'rapl'"):
        config_from_dict({"extra_analyzer": [{"type": "rapl", "role": "beside", "resource": "x"}]})


def test_each_meter_type_accepts_its_own_keys() -> None:
    for reference in meter_reference():  # every key a type reads carries its help line
        assert own_keys(METER_TYPES[reference.type]) == {key.name for key in reference.keys}
        assert all(key.help for key in reference.keys), reference.type
    config_from_dict({"analyzer": {"type": "ptd", "host": "127.0.0.1", "port": 8888, "ptd_timezone": "auto"}})


def test_an_empty_config_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no settings"):
        load_config(empty)


def test_type_names_read_as_words() -> None:
    with pytest.raises(ConfigError, match=r"\[session\] settle_s must be a number, not str"):
        config_from_dict({"session": {"settle_s": "1"}})
    with pytest.raises(ConfigError, match=r"\[analyzer\] insecure must be true or false"):
        config_from_dict({"analyzer": {"type": "redfish", "insecure": "yes"}})


def _listed(message: str) -> list[str]:
    """The problems of a one-line ``N problems: a; b; c`` error, checked against its count."""
    count, _, listed = message.partition(" problems: ")
    problems = re.split(r"; (?=\[)", listed)  # each of these begins with its section
    assert int(count) == len(problems)
    return problems


def test_every_problem_of_one_section_is_listed(tmp_path: Path) -> None:
    config = tmp_path / "director.toml"
    config.write_text("[service]\nport = 99999\nmax_message_bytes = 10\nclock_rounds = 2\n", encoding="utf-8")
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert _listed(message.removeprefix("power-director: error: ")) == [
        "[service] port 99999 is not a TCP port",
        "[service] max_message_bytes 10 is outside 1024..16777216",
        "[service] clock_rounds 2 is outside 4..1000",
    ]


def test_every_problem_of_every_section_is_listed_in_order() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({
            "analyzer": {"type": "yokogawa", "resource": "TCPIP::10.0.0.1::INSTR", "element": "4",
                         "crest_factor": 5},
            "session": {"settle_s": -1.0, "poll_interval_s": 0},
            "telemetry": {"queue_size": 5},
            "extra_analyzer": [{"type": "rapl", "role": "beside", "rapl_root": "sys"}],
        })
    assert _listed(str(caught.value)) == [
        "[analyzer] element '4' must be '1', '2', '3' or 'sum'",
        "[analyzer] crest_factor 5 must be 3 or 6",
        "[analyzer] rapl_root 'sys' must be an absolute path",  # the extra meter's own line
        "[session] settle_s cannot be negative",
        "[session] poll_interval_s must be positive, not 0.0",
        "[telemetry] queue_size 5 is outside 10..1000000",
    ]


def test_a_section_validated_alone_lists_every_problem() -> None:
    meter = SnmpConfig(port=161, snmp_family="apc", inlets=("1",), outlets=("x",),
                           snmp_version="3")
    with pytest.raises(ConfigError) as caught:
        meter.validate()
    assert _listed(str(caught.value)) == [
        "[analyzer] snmp_family 'apc' has no inlets here; use outlets",
        "[analyzer] outlet/inlet index 'x' must be numbers joined by dots",
        "[analyzer] SNMPv3 needs snmp_user, auth_key_file and priv_key_file (authPriv)",
    ]


def test_a_problem_that_follows_from_another_is_not_listed_twice() -> None:
    # no resource: not also "is not a VISA resource string"; 5 ms: not also "not a WT300E interval"
    with pytest.raises(ConfigError) as caught:
        YokogawaConfig(interval_ms=5).validate()
    assert _listed(str(caught.value)) == [
        "[analyzer] interval_ms 5 is outside 10..60000",
        "[analyzer] type 'yokogawa' needs resource, e.g. 'TCPIP::192.168.1.20::INSTR'",
    ]
    with pytest.raises(ConfigError) as caught:  # a bad auth: not also what credentials would need
        RedfishConfig(url="http://bmc", auth="digest").validate()
    assert str(caught.value) == "[analyzer] auth 'digest' must be one of session, basic, none"


def test_every_node_and_switch_table_with_a_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({
            "node": [{"name": "n1", "meters": []}, {"name": "n2", "meters": ["a"], "gpus": 8}],
            "switch": [{"name": "leaf", "max_spec_watts": 650.0, "provisioning_ratio": 2}],
        })
    assert _listed(str(caught.value)) == [
        "[[node]] n1: meters must be a non-empty list of meter names",
        "[[node]] n2: unknown key(s): gpus",
        "[[switch]] leaf: without a meter it needs max_spec_watts > 0 and 0 < provisioning_ratio ≤ 1 "
        "(estimated = max spec power × provisioning ratio)",
    ]


def test_check_config_refuses_the_system_tables_run_refuses(tmp_path: Path) -> None:
    """``check-config`` runs every check ``run`` runs: here a ``[[node]]`` naming a meter the
    session does not measure, and a summed meter in no node (tests/test_multinode.py: run refuses both)."""
    meters = ('[analyzer]\ntype = "mqtt-stream"\nbroker = "127.0.0.1:1883"\ntopic = "a1/psu1"\n'
              '[[extra_analyzer]]\ntype = "mqtt-stream"\nrole = "sum"\nbroker = "127.0.0.1:1883"\n'
              'topic = "a2/psu1"\n')
    cases = {
        '[[node]]\nname = "n1"\nmeters = ["stream-a1-psu1", "stream-a2-psu1", "ghost"]\n':
            "power-director: error: [[node]]/[[switch]] name meter(s) the session does not measure "
            "as primary or sum: ghost (measured: stream-a1-psu1, stream-a2-psu1)",
        '[[node]]\nname = "n1"\nmeters = ["stream-a1-psu1"]\n':
            "power-director: error: meter(s) stream-a2-psu1 belong to no [[node]] or [[switch]]",
    }
    for system, error in cases.items():
        config = tmp_path / "director.toml"
        config.write_text(meters + system, encoding="utf-8")
        result = run_cli("check-config", "--config", str(config))
        assert (result.returncode, result.stderr.strip()) == (2, error)
    config.write_text(meters + '[[node]]\nname = "n1"\nmeters = ["stream-a1-psu1", "stream-a2-psu1"]\n',
                      encoding="utf-8")
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 0 and "valid" in result.stdout, result.stderr
