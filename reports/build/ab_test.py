"""A/B statistics over measured runs: is setup A cheaper than B, and by how much?

The difference of the two means with a 95 % Welch t interval (unequal variances; the degrees
of freedom by Welch–Satterthwaite, the t quantile interpolated between whole degrees),
expressed as a share of B's mean. When the interval holds zero, no difference is detectable,
and the runs per side needed to resolve ``resolve_pct`` follow from the observed spread (two
sided 5 % level, 80 % power: n = (1.96 + 0.84)² (s_A² + s_B²) / δ²).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from reports.model.report import SessionReport
from reports.render.plot import DPI
from reports.repeat import IntervalStats, interval_stats, t_975
from reports.report_json import JsonDict, JsonValue

METHOD = "Welch t, 95 % two-sided"
Z_POWER_80 = 0.8416
Z_975 = 1.960
METRIC_WORDS = {
    "energy_j": ("energy per run", "J"), "energy_above_idle_j": ("energy above idle per run", "J"),
    "avg_watts": ("power", "W"), "duration_s": ("time per run", "s"),
}


@dataclass(frozen=True, slots=True)
class AbTest:
    metric: str
    unit: str
    a: IntervalStats
    b: IntervalStats
    difference: float | None  # mean A - mean B
    ci95: tuple[float, float] | None
    relative_pct: float | None  # the difference as % of B's mean
    relative_ci95_pct: tuple[float, float] | None
    df: float | None
    needed_n: int | None  # runs per side to resolve resolve_pct
    resolve_pct: float
    verdict: str
    method: str = METHOD

    @property
    def detected(self) -> bool:
        return self.ci95 is not None and (self.ci95[0] > 0 or self.ci95[1] < 0)

    def to_json(self) -> JsonDict:
        return {"metric": self.metric, "unit": self.unit, "method": self.method,
                "a": self.a.to_json(), "b": self.b.to_json(), "difference": self.difference,
                "ci95": _pair(self.ci95), "relative_pct": self.relative_pct,
                "relative_ci95_pct": _pair(self.relative_ci95_pct), "df": self.df,
                "detected": self.detected, "needed_n": self.needed_n, "resolve_pct": self.resolve_pct,
                "verdict": self.verdict}


def _pair(pair: tuple[float, float] | None) -> list[JsonValue] | None:
    return [*pair] if pair is not None else None


def metric_words(metric: str, unit: str) -> str:
    if metric in METRIC_WORDS:
        return METRIC_WORDS[metric][0]
    if metric.startswith("energy_per_unit"):
        return f"energy per {unit.removeprefix('J/') or 'unit'}"
    return metric


def t_975_fractional(df: float) -> float:
    """Student's t(0.975) at fractional degrees of freedom (Welch's): the table's neighbours,
    interpolated in 1/df, where the quantile is nearly linear (within 0.001 of the exact)."""
    low = max(1, math.floor(df))
    if low == df or low >= 30:
        return t_975(low)
    t_low, t_high = t_975(low), t_975(low + 1)
    share = (1 / low - 1 / df) / (1 / low - 1 / (low + 1))
    return t_low + share * (t_high - t_low)


def needed_runs(a_sd: float, b_sd: float, delta: float) -> int | None:
    """Runs per side for a 95 % two-sided test with 80 % power to see a difference ``delta``."""
    if delta <= 0:
        return None
    return max(2, math.ceil((Z_975 + Z_POWER_80) ** 2 * (a_sd ** 2 + b_sd ** 2) / delta ** 2))


def welch_test(a: Sequence[float], b: Sequence[float], metric: str, unit: str,
               resolve_pct: float = 2.0) -> AbTest:
    """A against B on ``metric``; a verdict sentence people can quote."""
    sa, sb = interval_stats(a), interval_stats(b)
    words = metric_words(metric, unit)
    if sa.n < 2 or sb.n < 2 or sa.mean is None or sb.mean is None or not sb.mean:
        return AbTest(metric, unit, sa, sb, None, None, None, None, None, None, resolve_pct,
                      f"cannot test: {words} needs at least 2 runs of each (A has {sa.n}, B has {sb.n})")
    va, vb = (sa.stdev or 0.0) ** 2 / sa.n, (sb.stdev or 0.0) ** 2 / sb.n
    se = math.sqrt(va + vb)
    terms = (va ** 2 / (sa.n - 1) if va else 0.0) + (vb ** 2 / (sb.n - 1) if vb else 0.0)
    df = (va + vb) ** 2 / terms if terms else float(sa.n + sb.n - 2)
    half = t_975_fractional(df) * se
    diff = sa.mean - sb.mean
    scale = 100 / abs(sb.mean)
    ci = (diff - half, diff + half)
    rel_ci = (ci[0] * scale, ci[1] * scale)
    needed = needed_runs(sa.stdev or 0.0, sb.stdev or 0.0, abs(sb.mean) * resolve_pct / 100)
    test = AbTest(metric, unit, sa, sb, diff, ci, diff * scale, rel_ci, df, needed, resolve_pct, "")
    return _with_verdict(test, words, half * scale)


def _with_verdict(test: AbTest, words: str, half_pct: float) -> AbTest:
    n = f"n={test.a.n}" if test.a.n == test.b.n else f"n={test.a.n} and {test.b.n}"
    rel = test.relative_pct or 0.0
    if test.detected:
        direction = "less" if rel < 0 else "more"
        text = (f"A uses {abs(rel):.1f} ± {half_pct:.1f} % {direction} {words} than B "
                f"({n}, {METHOD} interval)")
    else:
        low, high = test.relative_ci95_pct or (0.0, 0.0)
        text = f"no difference detectable at {n} (A − B: {low:+.1f} … {high:+.1f} % of B, {METHOD})"
        if test.needed_n is not None:
            text += f"; about n={test.needed_n} per side needed to resolve {test.resolve_pct:g} %"
    return replace(test, verdict=text)


def run_values(report: SessionReport, metric: str) -> list[float]:
    """Each run's ``metric``: a measured command's runs, else a LoadGen session's repeat runs'
    headline (or its one testing run)."""
    if report.measure is not None:
        values = [getattr(run, metric, None) for run in report.measure.runs]
    elif report.repeat is not None and metric == report.repeat.metric:
        values = [run.value for run in report.repeat.runs]
    elif report.power is not None:
        values = [report.power.value(metric) if metric in ("avg_watts", "energy_per_query_mj")
                  else getattr(report.power, metric, None)]
    else:
        values = []
    found = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not found:
        raise ReportError(f"session {report.session} has no {metric} figure")
    return found


def default_metric(reports: Sequence[SessionReport]) -> tuple[str, str]:
    """Energy per unit of work where every run has one, else energy per run."""
    units = {str(run.unit) for r in reports if r.measure for run in r.measure.runs
             if run.energy_per_unit_j is not None}
    per_unit = all(r.measure and all(run.energy_per_unit_j is not None for run in r.measure.runs)
                   for r in reports)
    if per_unit and len(units) == 1:
        return "energy_per_unit_j", f"J/{units.pop()}"
    if all(r.measure for r in reports):
        return "energy_j", "J"
    return "avg_watts", "W"


def unit_of(metric: str, reports: Sequence[SessionReport]) -> str:
    if metric in METRIC_WORDS:
        return METRIC_WORDS[metric][1]
    return default_metric(reports)[1] if metric == "energy_per_unit_j" else ""


def render_ab_png(a: Sequence[float], b: Sequence[float], test: AbTest) -> bytes:
    """Each run of A and B, their means with 95 % intervals, and the difference's interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6), dpi=DPI)
    FigureCanvasAgg(fig)
    runs, diff = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    for x, (name, values, stats) in enumerate((("A", a, test.a), ("B", b, test.b))):
        runs.scatter([x] * len(values), values, alpha=0.6, label=f"{name} runs")
        if stats.mean is not None:
            err = stats.half_width or 0.0
            runs.errorbar([x + 0.15], [stats.mean], yerr=[err], fmt="s", color="black", capsize=4)
    runs.set_xticks([0, 1], ["A", "B"])
    runs.set_ylabel(f"{metric_words(test.metric, test.unit)} ({test.unit})")
    runs.set_title("runs, mean ± 95 % interval", fontsize=9)
    if test.relative_pct is not None and test.relative_ci95_pct is not None:
        low, high = test.relative_ci95_pct
        diff.errorbar([0], [test.relative_pct], yerr=[[test.relative_pct - low], [high - test.relative_pct]],
                      fmt="o", color="tab:red", capsize=6)
    diff.axhline(0, color="grey", linewidth=1)
    diff.set_xticks([])
    diff.set_ylabel("A − B (% of B)")
    diff.set_title(METHOD, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_ab_html(path: Path, a: Sequence[float], b: Sequence[float], test: AbTest,
                  a_names: Sequence[str], b_names: Sequence[str]) -> None:
    """A self-contained page: the verdict, the plot, both sides' figures and sessions."""
    png = base64.b64encode(render_ab_png(a, b, test)).decode("ascii")

    def row(name: str, stats: IntervalStats, names: Sequence[str]) -> str:
        cells = [name, str(stats.n), _num(stats.mean), _num(stats.stdev), _num(stats.half_width),
                 "<br>".join(escape(n) for n in names)]
        return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    body = (f"<h1>A/B: {escape(metric_words(test.metric, test.unit))} ({escape(test.unit)})</h1>"
            f"<p><b>{escape(test.verdict)}</b></p><img alt='A and B runs' src='data:image/png;base64,{png}'>"
            "<table><tr><th></th><th>n</th><th>mean</th><th>stdev</th><th>± 95 %</th><th>sessions</th></tr>"
            f"{row('A', test.a, a_names)}{row('B', test.b, b_names)}</table>"
            f"<p>method: {escape(test.method)}; runs per side to resolve {test.resolve_pct:g} %: "
            f"{test.needed_n if test.needed_n is not None else '—'}</p>")
    style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
             "td,th{border:1px solid #ccc;padding:.2rem .5rem}"
             "table{border-collapse:collapse}img{max-width:100%}")
    path.write_text(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>A/B test</title>"
                    f"<style>{style}</style></head><body>{body}</body></html>\n", encoding="utf-8")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
