"""MkDocs hooks: topic pages are written on their own branches and land one by one, so the nav and
the guides name pages that may not be here yet. A page that is missing is left out of the nav, and
a link to it becomes its plain text, instead of a broken link; every page that is here is checked
as strictly as ever (``mkdocs build --strict``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_LINK = re.compile(r"\[([^\]]+)\]\(([\w\-]+\.md)(#[\w\-]*)?\)")


def _prune(nav: list[Any], docs: Path) -> list[Any]:
    kept: list[Any] = []
    for entry in nav:
        if isinstance(entry, dict):
            (title, target), = entry.items()
            if isinstance(target, list):
                target = _prune(target, docs)
                if target:
                    kept.append({title: target})
            elif (docs / target).exists():
                kept.append(entry)
        elif (docs / str(entry)).exists():
            kept.append(entry)
    return kept


def on_config(config: Any) -> Any:
    config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"])

    def link(match: re.Match[str]) -> str:
        return match.group(0) if (docs / match.group(2)).exists() else match.group(1)

    return _LINK.sub(link, markdown)
