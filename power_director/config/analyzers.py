"""Build the configured analyzer driver (each meter type's ``build()``) with its saved calibration."""

from __future__ import annotations

from analyzer_drivers.base import Analyzer
from power_director.config.meters import AnalyzerConfig


def make_analyzer(config: AnalyzerConfig) -> Analyzer:
    analyzer = config.build()
    if config.calibration_file:
        from power_director.config.calibration import load_calibration

        analyzer.calibration = load_calibration(config.calibration_file, analyzer.name)
    return analyzer
