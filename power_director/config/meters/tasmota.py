"""``type = "tasmota"``: a smart plug running Tasmota, read over MQTT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer_drivers.meters.plug_tasmota import DEFAULT_FULL_TOPIC, channel_error, full_topic_error
from power_director.config.meters.base import AnalyzerConfig, key, mqtt_problems

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class TasmotaConfig(AnalyzerConfig):
    """A Tasmota smart plug's energy telemetry over MQTT."""

    type = "tasmota"
    broker: str = key("127.0.0.1:1883", "the MQTT broker, HOST:PORT")
    topic: str = key("", "the plug's Tasmota topic")
    full_topic: str = key(DEFAULT_FULL_TOPIC, "Tasmota's FullTopic template")
    channel: str = key("sum", "a multi-channel device: sum, or a channel number from 1")

    def type_problems(self) -> list[str]:
        found = mqtt_problems(self.type, self.broker, self.topic)
        plug = (full_topic_error(self.full_topic), channel_error(self.channel))
        return found + [f"[analyzer] {problem}" for problem in plug if problem is not None]

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.plug_tasmota import TasmotaPlug

        return TasmotaPlug(self.broker, self.topic, full_topic=self.full_topic, channel=self.channel,
                           connect_timeout_s=self.connect_timeout_s, reply_timeout_s=self.reply_timeout_s)
