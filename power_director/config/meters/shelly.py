"""``type = "shelly"``: a Shelly smart plug (Gen1 or Gen2+), read over MQTT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer_drivers.meters.plug_shelly import component_error
from power_director.config.meters.base import AnalyzerConfig, key, mqtt_problems

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class ShellyConfig(AnalyzerConfig):
    """A Shelly plug or meter's power over MQTT (Gen2+ RPC notifications, Gen1 topics)."""

    type = "shelly"
    broker: str = key("127.0.0.1:1883", "the MQTT broker, HOST:PORT")
    topic: str = key("", "the Gen2 topic prefix, or the Gen1 device id")
    shelly_component: str = key("switch:0", "Gen2+: switch:<id>, pm1:<id>, em:<id>, em1:<id>; "
                                            "Gen1: relay:<n>, emeter:<n>")

    def type_problems(self) -> list[str]:
        found = mqtt_problems(self.type, self.broker, self.topic)
        if (problem := component_error(self.shelly_component)) is not None:
            found.append(f"[analyzer] {problem.replace('component', 'shelly_component', 1)}")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.plug_shelly import GEN1_KINDS, ShellyGen1Plug, ShellyPlug

        plug = ShellyGen1Plug if self.shelly_component.split(":")[0] in GEN1_KINDS else ShellyPlug
        return plug(self.broker, self.topic, component=self.shelly_component,
                    connect_timeout_s=self.connect_timeout_s, reply_timeout_s=self.reply_timeout_s)
