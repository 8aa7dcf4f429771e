"""Count the opens of files: every ``open()``, ``Path.open`` and ``Path.read_*`` goes through
``io.open`` (pathlib's too) or ``builtins.open``, the two names patched here."""

from __future__ import annotations

import builtins
import io
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def counted_opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[Path]]:
    """Within the block, the number of opens of each file (by its resolved path)."""
    opens: Counter[Path] = Counter()
    real_open = io.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)):
            opens[Path(file).resolve()] += 1
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(io, "open", counting_open)
        patch.setattr(builtins, "open", counting_open)
        yield opens
