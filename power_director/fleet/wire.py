"""What meter agents and the director say to each other over MQTT (README "Lab").

Topics, under ``power-director/fleet/<agent>/``:

- ``samples`` (QoS 1): ``{"meters": {"<meter>": [[seq, t_ns, watts, volts, amps, pf], ...], ...},
  "epochs": {"<meter>": E, ...}}``: every meter's new samples of an interval in one message (one
  signature); ``<meter>/samples``, ``{"samples": [...], "epoch": E}``, one meter's (accepted
  too). ``seq`` counts each meter's samples from 1, ``t_ns`` is on the agent's clock, a value we
  cannot represent in JSON (NaN) is ``null``; ``epoch`` (ns) is when the meter's journal began:
  numbering starts again only in a newer epoch.
- ``<meter>/info`` (retained): what the meter said it is, and the agent's sample interval.
- ``status`` (retained, also the agent's last will): ``online`` / ``offline``.
- ``clock`` (QoS 0): ``{"id", "reply"}`` from a director; the agent answers on ``reply`` with
  ``{"id", "t2", "t3"}`` on its clock: one NTP-style exchange (power_director/fleet/clock.py).
- ``replay`` (QoS 1): ``{"meter", "from", "to"}``; the agent publishes those samples again
  from its journal; ``{"meter", "from_t_ns", "to_t_ns"}`` (its clock): those stamped in that time
  (a restarted director recovering a session: power_director/session/fleet_recovery.py).

With a signing key (power_director.fleet.sign) the agent's samples, info and clock replies end
with ``"key"`` and ``"mac"``.
"""

from __future__ import annotations

import json
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import orjson

from analyzer_drivers.formats.errors import WireError
from analyzer_drivers.formats.sample import Sample

ROOT = "power-director/fleet"
MAX_BATCH = 200  # samples per message when catching up


def agent_topic(agent: str, *rest: str) -> str:
    return "/".join((ROOT, agent, *rest))


def valid_name(name: str) -> bool:
    return bool(name) and not any(c in name for c in "#+/ \0")


def encode_samples(rows: list[tuple[int, Sample]], epoch: int | None = None) -> bytes:
    message: dict[str, Any] = {"samples": [_row(seq, s) for seq, s in rows]}
    if epoch is not None:
        message["epoch"] = epoch
    return orjson.dumps(message)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def encode_agent_batch(rows: Mapping[str, list[tuple[int, Sample]]], epochs: Mapping[str, int]) -> bytes:
    """One message with each meter's rows (the agent's ``samples`` topic)."""
    meters = {name: [_row(seq, s) for seq, s in meter_rows] for name, meter_rows in rows.items()}
    return orjson.dumps({"meters": meters, "epochs": {name: epochs[name] for name in rows}})


def _row(seq: int, s: Sample) -> list[Any]:
    return [seq, s.t_ns, *(_finite(v) for v in (s.watts, s.volts, s.amps, s.pf))]


#: One sample as it came: ``(seq, t_ns, watts, volts, amps, pf)``, ``t_ns`` on the agent's clock.
#: A stream meter makes it a ``Sample`` once, on our clock (a thousand meters' rows a second).
Row = tuple[int, int, float, float, float, float]


def sample_at(row: Row, t_ns: int) -> Sample:
    """The row's sample, stamped ``t_ns`` (its stamp on our clock, or ``row[1]``: the agent's)."""
    return Sample(t_ns, row[2], row[3], row[4], row[5])


def as_sample(row: Row) -> tuple[int, Sample]:
    """A row as ``(seq, Sample)`` on the agent's clock."""
    return row[0], sample_at(row, row[1])


def decode_agent_batch(payload: bytes) -> dict[str, tuple[list[Row], int | None]]:
    """Each meter's rows and journal epoch from an agent's batch; ValueError for anything else."""
    try:
        message = orjson.loads(payload)
        meters, epochs = message["meters"], message.get("epochs") or {}
        if not isinstance(meters, dict) or not isinstance(epochs, dict):
            raise ValueError("meters and epochs must be objects")
        return {str(name): _rows(rows, epochs.get(name)) for name, rows in meters.items()}
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a batch message: {payload[:60]!r}") from exc


def decode_samples(payload: bytes) -> list[tuple[int, Sample]]:
    """The samples of one message; ValueError with the reason for anything else."""
    return [as_sample(row) for row in decode_batch(payload)[0]]


def decode_batch(payload: bytes) -> tuple[list[Row], int | None]:
    """The samples of one message and its journal epoch (None: not given); ValueError with the
    reason for anything else."""
    try:
        message = orjson.loads(payload)
        return _rows(message["samples"], message.get("epoch"))
    except (KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a samples message: {payload[:60]!r}") from exc


def _rows(rows: Any, epoch: Any) -> tuple[list[Row], int | None]:
    """Rows of samples; ValueError if not."""
    if epoch is not None and type(epoch) is not int:
        raise ValueError(f"bad epoch {str(epoch)[:30]}")
    if not isinstance(rows, list):
        raise ValueError("samples must be a list")
    out: list[Row] = []
    for row in rows:  # a thousand meters' rows a second: the checks are written out
        if type(row) is not list or len(row) != 6 or type(row[0]) is not int or type(row[1]) is not int \
                or row[0] < 1:
            raise ValueError(f"bad row {str(row)[:60]}")
        seq, t_ns, watts, volts, amps, pf = row
        if type(watts) is float and type(volts) is float and type(amps) is float and type(pf) is float:
            out.append((seq, t_ns, watts, volts, amps, pf))  # nearly every row
        else:
            out.append((seq, t_ns, _number(watts), _number(volts), _number(amps), _number(pf)))
    return out, epoch


@dataclass(frozen=True)
class BrokerAuth:
    """How to reach a broker: TLS with a CA file, and a user name with a password file."""

    tls_ca: str = ""
    username: str = ""
    password_file: str = ""

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.tls_ca:
            options["tls_context"] = ssl.create_default_context(cafile=self.tls_ca)
        if self.username:
            options["username"] = self.username
            options["password"] = (
                Path(self.password_file).read_text(encoding="utf-8").strip() if self.password_file else None
            )
        return options


#: Why a broker refuses a login (CONNACK) or a subscription (SUBACK), by reason code: MQTT 3.1.1
#: (OASIS, 2014) §3.2.2.3 return codes 4 and 5, §3.9.3 0x80; MQTT 5.0 (OASIS, 2019) §2.4 reason
#: codes 0x80, 0x86, 0x87, 0x8A, 0x8C. paho-mqtt 2 reports a 3.1.1 CONNACK 4/5 as 0x86/0x87.
REFUSALS = {
    4: "bad user name or password", 5: "not authorized", 128: "unspecified error",
    134: "bad user name or password", 135: "not authorized", 138: "banned", 140: "bad authentication method",
}
LOGIN_REFUSALS = (4, 5, 134, 135, 138, 140)


class BrokerRefused(WireError):
    """The broker refused our login or a subscription: retrying will not help."""


def refusal(exc: BaseException) -> str | None:
    """``not authorized (reason code 5)`` for a refused login; None for any other failure."""
    if not isinstance(exc, aiomqtt.MqttCodeError):
        return None
    code = getattr(exc.rc, "value", exc.rc)
    if not isinstance(code, int) or code not in LOGIN_REFUSALS:
        return None
    return f"{REFUSALS[code]} (reason code {code})"


async def subscribe(client: aiomqtt.Client, topic: str, qos: int = 0) -> None:
    """Subscribe; a broker that refuses it (an ACL) is a BrokerRefused naming the topic."""
    granted = await client.subscribe(topic, qos=qos)
    for code in granted if isinstance(granted, (list, tuple)) else ():
        value = getattr(code, "value", code)
        if isinstance(value, int) and value >= 128:
            why = REFUSALS.get(value, "failure")
            raise BrokerRefused(f"subscribing to {topic}: {why} (reason code {value})")


def one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


def client(host: str, port: int, identifier: str, auth: BrokerAuth, **options: Any) -> aiomqtt.Client:
    """An aiomqtt client with the auth options; an OSError reading the password is the caller's."""
    return aiomqtt.Client(host, port, identifier=identifier, **auth.client_options(), **options)
