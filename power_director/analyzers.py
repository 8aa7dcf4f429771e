"""Build the configured analyzer driver."""

from __future__ import annotations

from analyzer_drivers.base import Analyzer
from analyzer_drivers.ptd import PtdAnalyzer
from power_director.config import AnalyzerConfig


def make_analyzer(config: AnalyzerConfig) -> Analyzer:
    return PtdAnalyzer(
        config.host,
        config.port,
        connect_timeout_s=config.connect_timeout_s,
        reply_timeout_s=config.reply_timeout_s,
    )
