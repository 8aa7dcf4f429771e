"""One exception tree: every error power-director raises on purpose is a ``PowerDirectorError``,
so the CLI and the service catch one thing (and ``OSError``, which is the system's)."""

from __future__ import annotations


class PowerDirectorError(Exception):
    """Something power-director can say in one line: bad input, a dead meter, a broken run."""


class ConfigError(PowerDirectorError):
    """A config file, option or label we cannot use."""


def raise_all(problems: list[str]) -> None:
    """One ConfigError for every problem found, ``N problems: a; b; c`` (none: nothing raised)."""
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} problems: " + "; ".join(problems))


class AnalyzerError(PowerDirectorError):
    """A meter could not be reached, or it answered something we cannot use."""


class FormatError(PowerDirectorError):
    """A file or log we read does not hold what its format says (spl.txt, LoadGen logs, PTD logs)."""


class WireError(PowerDirectorError):
    """The remote protocol between the director and a SUT agent failed."""


class ReportError(PowerDirectorError):
    """A session's report cannot be built or read."""
