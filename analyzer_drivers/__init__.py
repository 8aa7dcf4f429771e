"""Power meters behind one async interface, and simulators that speak their protocols."""

from analyzer_drivers.base import Analyzer, AnalyzerError, AnalyzerInfo, Ranges, Sample
from analyzer_drivers.ptd import PtdAnalyzer

__all__ = ["Analyzer", "AnalyzerError", "AnalyzerInfo", "PtdAnalyzer", "Ranges", "Sample"]
