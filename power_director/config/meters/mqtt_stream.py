"""``type = "mqtt-stream"``: one meter of a meter agent (``power-director meter-agent``), over MQTT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key, mqtt_problems, topic_ok

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class MqttStreamConfig(AnalyzerConfig):
    """The samples a meter agent streams for one of its meters, read from the broker."""

    type = "mqtt-stream"
    broker: str = key("127.0.0.1:1883", "the MQTT broker, HOST:PORT")
    topic: str = key("", "AGENT/METER: the agent's id and its meter's name")
    ca_file: str = key("", "the broker's TLS CA (empty: plain TCP)")
    username: str = key("", "the broker account")
    password_file: str = key("", "a file holding the broker password")
    signing_key_file: str = key("", "the agent's signing key: only messages it signed count")
    key_id: str = key("", "that key's id (empty: the agent's id, AGENT of the topic)")

    def type_problems(self) -> list[str]:
        found = mqtt_problems(self.type, self.broker, self.topic)
        agent, _, meter = self.topic.partition("/")
        if topic_ok(self.topic) and (not agent or not meter or "/" in meter):
            found.append(f"[analyzer] type {self.type!r} needs topic = \"AGENT/METER\", not {self.topic!r}")
        return found

    def build(self) -> Analyzer:
        from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
        from power_director.fleet.sign import load_key
        from power_director.fleet.wire import BrokerAuth

        keys = {}
        if self.signing_key_file:
            key_id = self.key_id or self.topic.partition("/")[0]
            keys[key_id] = load_key(self.signing_key_file, f"[analyzer] {self.type} {self.topic}")
        return MqttStreamAnalyzer(
            self.broker, self.topic, auth=BrokerAuth(self.ca_file, self.username, self.password_file),
            connect_timeout_s=self.connect_timeout_s, reply_timeout_s=self.reply_timeout_s, keys=keys,
        )
