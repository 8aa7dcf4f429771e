"""``power-director audit TREE``: one row per power run of a submission tree, read only.

A run is ``…/<scenario>/performance/`` holding ``power/``, ``ranging/`` and ``run_1/`` — the
layout of the MLCommons results repositories (``closed|open/<org>/results/<system>/<model>/
<scenario>/performance/``), as the submission checker's loader walks it.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from reports.build.mlperf_import import import_run
from reports.mlperf.checker_column import CHECKER_KEY
from reports.model.headline import headline, metric_uncertainty
from reports.model.report import SessionReport

COLUMNS = ("run", "scenario", "checker", "ours", "time_weighted", "error", "unit")
CHECKER_COLUMN = "MLCommons checker (current)"


def find_runs(tree: Path) -> list[Path]:
    """Every ``performance`` directory with ``power/`` below ``tree`` (not entering one)."""
    if not tree.is_dir():
        raise ReportError(f"no directory at {tree}")
    runs = []
    for root, dirs, _files in os.walk(tree):
        if os.path.basename(root) == "performance" and "power" in dirs:
            runs.append(Path(root))
            dirs.clear()
            continue
        dirs.sort()
    return runs


def _time_weighted(report: SessionReport, unit: str) -> float | None:
    if report.power is None:
        return None
    weighted = report.power.time_weighted
    value = weighted.avg_watts
    if unit == "mJ/query":
        queries, energy_j = report.power.queries, weighted.energy_j
        value = energy_j * 1000 / queries if queries and energy_j is not None else None
    return None if value is None else float(value)


def _checker_value(report: SessionReport) -> object:
    """The checker's number under the run's rule set (an imported report's ``checker`` key)."""
    checker = report.extra.get("checker")
    rules = checker.get("rules") if isinstance(checker, dict) else None
    return rules.get("value") if isinstance(rules, dict) else None


def audit_run(run_dir: Path, tree: Path, rules: list[str]) -> dict[str, Any]:
    """One row: the checker's number, ours, the time-weighted one, the error, a verdict per rule set."""
    row: dict[str, Any] = {"run": str(run_dir.relative_to(tree)) if run_dir != tree else "."}
    try:
        reports = {name: import_run(run_dir, name, checker_column=name == rules[0])[0] for name in rules}
    except Exception as exc:  # one bad run is a row saying why, never the end of the audit
        return {**row, "failed": f"{type(exc).__name__}: {exc}"}
    first = reports[rules[0]]
    metric = headline(first)
    row.update({
        "scenario": first.scenario, "checker": _checker_value(first),
        "ours": metric.value, "time_weighted": _time_weighted(first, metric.unit),
        "error": metric_uncertainty(first), "unit": metric.unit,
        "error_partial": (first.uncertainty.terms_watts.analyzer if first.uncertainty else None) is None,
        "notes": first.notes[:-1],
        "unknown": [c.name for c in first.checks if c.status == "unknown"],
        **_checker_column(first),
    })
    for name, report in reports.items():
        row[f"verdict_{name}"] = "valid" if report.valid else "INVALID"
        row[f"checker_{name}"] = _checker_value(report)
        row[f"fails_{name}"] = [c.name for c in report.checks if c.status == "fail"]
        row[f"problems_{name}"] = report.problems
    return row


def _checker_column(report: SessionReport) -> dict[str, Any]:
    """Today's checker, rule by rule (reports/mlperf/checker_column.py): its verdict, the rules it
    fails, and where it and we differ, why."""
    section = report.extra.get(CHECKER_KEY)
    if not isinstance(section, dict):
        return {}
    rules = section.get("rules", [])
    return {
        "mlcommons_checker": section.get("verdict"),
        "mlcommons_checker_fails": [r["rule"] for r in rules if r["checker"] == "fail"],
        "mlcommons_checker_differs": [f"{r['rule']}: {r['why']}" for r in rules if r["why"]],
    }


def _audit_one(job: tuple[Path, Path, list[str]]) -> dict[str, Any]:
    return audit_run(*job)


def audit_tree(
    tree: Path, rules: list[str], jobs: int = 2, *, progress: bool = False
) -> list[dict[str, Any]]:
    runs = find_runs(tree)
    work = [(run, tree, rules) for run in runs]
    rows: list[dict[str, Any]] = []
    if jobs <= 1 or len(work) < 2:
        results = map(_audit_one, work)
        for row in results:
            rows.append(row)
            _progress(progress, len(rows), len(work))
        return rows
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for row in pool.map(_audit_one, work, chunksize=4):
            rows.append(row)
            _progress(progress, len(rows), len(work))
    if progress:
        sys.stderr.write("\n")
    return rows


def _progress(enabled: bool, done: int, total: int) -> None:
    if enabled:
        sys.stderr.write(f"\raudit: {done}/{total} runs")
        sys.stderr.flush()


def _number(value: Any, unit: str) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:.3f}" if unit == "mJ/query" else f"{value:.2f}"


def audit_table(rows: list[dict[str, Any]], rules: list[str]) -> str:
    header = ["run", "scenario", "checker", "ours", "time-weighted", "±", "unit",
              *[f"{name}" for name in rules], CHECKER_COLUMN, "problems"]
    lines = [header]
    for row in rows:
        if "failed" in row:
            lines.append([row["run"], "—", "—", "—", "—", "—", "", *["unreadable"] * len(rules), "—",
                          row["failed"]])
            continue
        unit = row["unit"]
        error = _number(row["error"], unit) + ("*" if row["error_partial"] else "")
        problems = "; ".join(dict.fromkeys(p for name in rules for p in row[f"problems_{name}"]))
        lines.append([row["run"], row["scenario"], _number(row["checker"], unit), _number(row["ours"], unit),
                      _number(row["time_weighted"], unit), error, unit,
                      *[row[f"verdict_{name}"] for name in rules], _checker_cell(row), problems or "—"])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    text = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  " + str(line[-1]) for line in lines]
    return "\n".join(text) + "\n(* the ± leaves out the analyzer's accuracy: unknown)"


def _checker_cell(row: dict[str, Any]) -> str:
    fails = row.get("mlcommons_checker_fails")
    if fails is None:
        return "—"
    return f"INVALID ({len(fails)} rules)" if fails else str(row.get("mlcommons_checker"))


def audit_summary(rows: list[dict[str, Any]], rules: list[str]) -> str:
    lines = [f"{len(rows)} power runs; unreadable: {sum('failed' in row for row in rows)}"]
    for name in rules:
        counts = Counter(check for row in rows for check in row.get(f"fails_{name}", []))
        invalid = sum(row.get(f"verdict_{name}") == "INVALID" for row in rows)
        failing = ", ".join(f"{check} {n}" for check, n in counts.most_common()) or "none"
        lines.append(f"{name} rules: {invalid} invalid; runs failing each rule: {failing}")
    counts = Counter(rule for row in rows for rule in row.get("mlcommons_checker_fails", []))
    invalid = sum(bool(row.get("mlcommons_checker_fails")) for row in rows)
    failing = ", ".join(f"{rule} {n}" for rule, n in counts.most_common()) or "none"
    lines.append(f"{CHECKER_COLUMN}: {invalid} invalid; runs failing each rule: {failing}")
    return "\n".join(lines)


def audit_csv(rows: list[dict[str, Any]], rules: list[str]) -> str:
    out = io.StringIO()
    fields = [*COLUMNS, "error_partial",
              *[f"{kind}_{name}" for name in rules for kind in ("verdict", "checker", "problems")],
              "mlcommons_checker", "mlcommons_checker_fails", "mlcommons_checker_differs", "failed"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "; ".join(value) if isinstance(value, list) else value
                         for key, value in row.items()})
    return out.getvalue()
