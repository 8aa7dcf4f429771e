"""Config errors a person can act on: every problem at once, a suggestion for a near-miss key,
keys of another meter type refused, human type names, an empty file refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from power_director.config import METER_KEYS, AnalyzerConfig, ConfigError, config_from_dict, load_config
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
    for meter_type, keys in METER_KEYS.items():
        known = {name for name in AnalyzerConfig.__dataclass_fields__}
        assert keys <= known, meter_type  # the table names real keys
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
