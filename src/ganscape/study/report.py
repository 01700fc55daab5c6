"""Reports: one self-contained HTML page (and a markdown summary) per study,
and one HTML page per run.

Every page is a single file: plots are matplotlib PNGs (Agg, drawn on
Figure objects that never touch pyplot's global state) and sample grids are
read from the run folders, all inlined as base64 data: URIs. A page loads
nothing and runs nothing: no external URL, no JavaScript, and a
Content-Security-Policy that forbids both, so a stray script or link in a
name could not run or fetch even if it slipped through. Every piece of text
that comes from configs, params, reasons, names or the spec passes through
`esc` (html.escape) on its way into the page.

Pages read only what the run folders and the study table hold (DESIGN.md:
reports never reach back into training).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..train import rundir
from . import analysis

# what a page may load: inline styles and data: images, nothing else
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STATES = ("complete", "pruned", "failed", "running", "waiting")
TOP_N = 10
MAX_IMAGE_BYTES = 20 * 2 ** 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_STEP_PNG = re.compile(r"^step_(\d+)\.png$")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
.scroll { max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { overflow-wrap: anywhere; min-width: 4em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; } .note { color: #666; } .grids { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.85em; color: #444; max-width: 320px; }
.grids img { image-rendering: pixelated; max-width: 320px; }
"""


# ----------------------------------------------------------------------------- text

def esc(x: Any) -> str:
    """Text for HTML: html.escape(str(x)), quotes included (safe in element
    text and in quoted attribute values). The only way text enters a page."""
    return html.escape(str(x), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(x: Any) -> str:
    """Text for a markdown table cell, on one line: markdown's own
    backslash escapes, not HTML entities, so report.md reads as plain text.
    '<' and '>' are escaped (no inline HTML can start: CommonMark shows them
    as text, Python-Markdown as text after a backslash), '&' where it would
    start an entity, '|' (a cell boundary), and the characters that start
    code, links or emphasis ('_' only at a word's edge, where it could)."""
    text = str(x).replace("\r", " ").replace("\n", " ")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_ENTITY.sub(r"\\&", text)
    return _MD_EDGE_UNDERSCORE.sub(r"\\_", text)


def _fmt(v: Any, digits: int = 4) -> str:
    """A number for people: 4 significant digits; None as a dash."""
    if v is None:
        return "\u2014"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}g}"
    return str(v)


def _mpl(x: Any) -> str:
    """Text for a matplotlib label: '$' would start mathtext (and an unmatched
    one fails the drawing), so it is escaped."""
    return str(x).replace("$", r"\$")


def _params_text(params: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted((params or {}).items()))


def _table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; every cell escaped, numbers formatted and right-aligned.
    Long headers wrap (compare's sixteen columns fit a 1400 px window), and a
    table wider than the page scrolls inside its own box, never the page."""
    out = ['<div class="scroll"><table><thead><tr>', *(f"<th>{esc(h)}</th>" for h in headers),
           "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for c in row:
            num = isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool)
            out.append(f'<td class="num">{esc(_fmt(c))}</td>' if num else f"<td>{esc(_fmt(c))}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


# ----------------------------------------------------------------------------- images

def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=90)


def _fig_uri(fig) -> str:
    """A matplotlib figure as a PNG data: URI (Agg canvas; the figure is
    cleared afterwards so it holds no memory)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", metadata={"Software": None})
    finally:
        fig.clear()
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _file_uri(path: Path) -> Optional[str]:
    """A PNG file as a data: URI; None when it is missing, too large, not a
    PNG or a symbolic link (never followed: it could publish any file)."""
    try:
        path = Path(path)
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_IMAGE_BYTES:
            return None
        with rundir.open_own(path, "rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
    except (OSError, rundir.LinkRefused):
        return None
    if not data.startswith(PNG_MAGIC):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _img(uri: Optional[str], alt: str) -> str:
    if uri is None:
        return _note(f"({alt}: no picture)")
    return f'<img src="{uri}" alt="{esc(alt)}">'


def sample_grids(run_dir: Path) -> List[Tuple[int, Path]]:
    """The sample grids samples/step_NNNNNN.png of a run, as (step, path) in step order."""
    folder = Path(run_dir) / rundir.SAMPLES
    if not folder.is_dir() or folder.is_symlink():  # a linked folder is not the run's own
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP_PNG.match(p.name)
        if m and not p.is_symlink():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _linked_samples(run_dir: Path) -> List[str]:
    """What sample_grids left out because it is a symbolic link."""
    folder = Path(run_dir) / rundir.SAMPLES
    if folder.is_symlink():
        return [rundir.SAMPLES + "/"]
    if not folder.is_dir():
        return []
    return sorted(f"{rundir.SAMPLES}/{p.name}" for p in folder.iterdir() if p.is_symlink())


def _num(v: Any) -> Optional[float]:
    """A logged number as float (run folders write NaN/Inf as text); else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        return float(v)
    return None


# ----------------------------------------------------------------------------- page

def _page(title: str, body: List[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{_CSS}</style>", "</head><body>",
        f"<h1>{esc(title)}</h1>", *body, "</body></html>", ""])


def _write(path: Path, text: str) -> Path:
    """Atomically replace `path` (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


# ----------------------------------------------------------------------------- study plots

def _log_if_spread(ax, values: Iterable[float]) -> None:
    """Log scale for positive values spanning more than 10x: a few diverged
    settings (FID in the hundreds) would otherwise flatten the rest."""
    vs = [float(v) for v in values if analysis._finite(v)]
    if vs and min(vs) > 0 and max(vs) > 10 * min(vs):
        ax.set_yscale("log")


def _box_plot(values: Dict[Any, List[float]], factor: str, metric: str) -> str:
    levels = [lv for lv, vs in values.items() if vs]
    fig = _figure(max(4.0, 1.1 * len(levels) + 2), 3.4)
    ax = fig.add_subplot()
    data = [values[lv] for lv in levels]
    ax.boxplot(data, showfliers=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same study draws the same picture
    for i, vs in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(vs)), vs, s=10, alpha=0.6, color="tab:blue", zorder=3)
    ax.set_xticks(range(1, len(levels) + 1))
    ax.set_xticklabels([_mpl(f"{lv}\n(n={len(values[lv])})") for lv in levels], fontsize=8)
    ax.set_xlabel(_mpl(factor))
    ax.set_ylabel(_mpl(metric))
    ax.set_title(_mpl(f"{metric} of completed trials per {factor}"), fontsize=10)
    return _fig_uri(fig)


def _budget_plot(curves: Dict[Any, Dict[str, Any]], factor: str, metric: str, direction: str,
                 level: float) -> str:
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    for lv, c in curves.items():
        line, = ax.plot(c["k"], c["mean"], marker="o", ms=3, label=_mpl(f"{factor}={lv} (pool {c['n']})"))
        ax.fill_between(c["k"], c["lo"], c["hi"], color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    kmax = max((int(np.max(c["k"])) for c in curves.values() if len(c["k"])), default=1)
    ax.set_xticks([t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if t <= kmax])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("budget k (settings tried)")
    _log_if_spread(ax, [v for c in curves.values() for v in (*c["lo"], *c["hi"])])
    best = "min" if direction == "minimize" else "max"
    ax.set_ylabel(_mpl(f"{best} {metric} of k settings"))
    ax.set_title(_mpl(f"{metric} vs budget per {factor}: mean, and spread of best-of-k ({level:.0%})"),
                 fontsize=10)
    ax.legend(fontsize=7)
    return _fig_uri(fig)


def _importance_plot(imp: Dict[str, float]) -> str:
    names = list(imp)[::-1]  # largest on top
    fig = _figure(6.0, max(1.8, 0.35 * len(names) + 1))
    ax = fig.add_subplot()
    ax.barh(range(len(names)), [imp[n] for n in names], color="tab:blue")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([_mpl(n) for n in names], fontsize=8)
    ax.set_xlabel("importance (fANOVA, normalized)")
    return _fig_uri(fig)


def _pareto_plot(done: List[Dict[str, Any]], front: List[Dict[str, Any]], metric: str) -> str:
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    pts = [t for t in done if analysis._finite(t.get("seconds"))]
    ax.scatter([t["seconds"] for t in pts], [t["value"] for t in pts], s=14, color="0.6", label="completed trials")
    ax.plot([t["seconds"] for t in front], [t["value"] for t in front], "-o", color="tab:red", ms=5,
            drawstyle="steps-post", label="Pareto front")
    for t in front:
        ax.annotate(f"#{t.get('number')}", (t["seconds"], t["value"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("training seconds (all seeds)")
    ax.set_ylabel(_mpl(metric))
    ax.legend(fontsize=7)
    return _fig_uri(fig)


def _curves_plot(table: Sequence[Dict[str, Any]], metric: str) -> Optional[str]:
    styles = {"complete": ("tab:blue", 0.6), "pruned": ("tab:red", 0.5), "failed": ("black", 0.5)}
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    drawn = set()
    for t in table:
        pts = [(s, v) for s, v in (c for c in (t.get("curve") or []) if len(c) == 2)
               if analysis._finite(s) and analysis._finite(v)]
        if not pts:
            continue
        state = t.get("state") if t.get("state") in styles else "complete"
        color, alpha = styles[state]
        ax.plot(*zip(*pts), color=color, alpha=alpha, lw=1, label=None if state in drawn else state)
        drawn.add(state)
    if not drawn:
        fig.clear()
        return None
    ax.set_xlabel("step")
    ax.set_ylabel(_mpl(metric))
    _log_if_spread(ax, [v for t in table for c in (t.get("curve") or []) if len(c) == 2 for v in c[1:]])
    ax.set_title("intermediate objective (seed 0)", fontsize=10)
    ax.legend(fontsize=7)
    return _fig_uri(fig)


def _cost_plot(rows: List[Dict[str, Any]], metric: str, factor: Optional[str]) -> Optional[str]:
    """Two panels: the objective against examples seen and against training
    seconds, one line per trial, coloured by its level of `factor`."""
    levels = sorted({r["level"] for r in rows}, key=analysis._level_key)
    colors = {lv: f"C{i % 10}" for i, lv in enumerate(levels)}
    fig = _figure(10.0, 3.6)
    axes = fig.subplots(1, 2)
    drawn, labelled = False, set()
    for ax, key, label in ((axes[0], "examples", "examples seen"), (axes[1], "seconds", "training seconds")):
        for r in rows:
            pts = [(x, v) for x, v in zip(r[key], r["values"]) if x is not None]
            if not pts:
                continue
            show = factor is not None and r["level"] not in labelled and len(levels) <= 12
            ax.plot(*zip(*pts), color=colors[r["level"]], alpha=0.7, lw=1, marker=".", ms=3,
                    label=_mpl(f"{factor}={r['level']}") if show else None)
            if show:
                labelled.add(r["level"])
            drawn = True
        ax.set_xlabel(label)
        ax.set_ylabel(_mpl(metric))
        _log_if_spread(ax, [v for r in rows for v in r["values"]])
    if not drawn:
        fig.clear()
        return None
    if labelled:
        axes[0].legend(fontsize=7)
    fig.suptitle(_mpl(f"{metric} during training, per trial (seed 0)"), fontsize=10)
    return _fig_uri(fig)


# ----------------------------------------------------------------------------- study report

def _spec_info(spec_text: str) -> Dict[str, Any]:
    try:
        import yaml

        spec = yaml.safe_load(spec_text or "")
    except Exception:  # the spec is shown as text anyway; a bad one must not stop the report
        return {}
    return spec if isinstance(spec, dict) else {}


def _resolve(study_dir: Path, run_dir: str) -> Path:
    p = Path(run_dir)
    return p if p.is_absolute() else Path(study_dir) / p


def _state_counts(table: Sequence[Dict[str, Any]]) -> Dict[str, int]:
    counts = {s: 0 for s in STATES}
    for t in table:
        s = str(t.get("state"))
        counts[s] = counts.get(s, 0) + 1
    return counts


def _reruns_section(study_dir: Path, metric_name: str) -> List[str]:
    path = Path(study_dir) / "reruns.json"
    if not path.exists():
        return [_note("Not run yet: `ganscape study rerun STUDY --seeds N` re-trains the best settings "
                      "with more seeds.")]
    try:
        data = json.loads(path.read_text())
        rows = analysis.rerun_summary(data if isinstance(data, dict) else {})
    except (OSError, ValueError, TypeError, AttributeError) as e:
        return [_note(f"could not read reruns.json: {e}")]
    if not rows:
        return [_note("reruns.json lists no setting.")]

    def spread(r):
        if r["mean"] is None:
            return "failed"
        return _fmt(r["mean"]) + (f" \u00b1 {_fmt(r['std'])}" if r["std"] is not None else "")

    seeds = max(len(r["values"]) for r in rows)
    out = [_note(f"The best setting{'s per level' if len(rows) > 1 else ''} re-trained with {seeds} fresh "
                 "seeds (`ganscape study rerun`): mean \u00b1 sample std over the fresh seeds that finished. "
                 "The search's own value is shown apart: it won a selection among noisy values, so it "
                 "leans toward luck (the winner's curse) and is not averaged in.")]
    out.append(_table(["setting", "trial", f"{metric_name} in the search", f"{metric_name} fresh seeds mean "
                       "\u00b1 std", "min", "max", "failed seeds", "per fresh seed", "params"],
                      [[r["label"], r["number"], r["search"], spread(r), r["min"], r["max"], r["failed"],
                        ", ".join("failed" if v is None else _fmt(v) for v in r["values"]),
                        _params_text(r["params"])] for r in rows]))
    return out


def study_report(study_dir: Path, table: Sequence[Dict[str, Any]], spec_text: str, factors: Sequence[str],
                 importance: Optional[Dict[str, float]] = None, direction: str = "minimize",
                 metric_name: str = "fid", n_boot: int = 1000, level: float = 0.95,
                 ran_with: Optional[Dict[str, Any]] = None) -> Tuple[Path, Path]:
    """Write STUDY/report.html (self-contained) and STUDY/report.md; return both paths.

    study_dir: the study folder; table: the runner's trial table (see
    analysis); spec_text: spec.yaml as text (shown verbatim, escaped);
    factors: the params to compare level by level (categorical ones: loss,
    normalization, ...); importance: {param: importance} from
    analysis.importance (an empty one's `.reason` is shown), or None when not
    computed; direction: whether lower (minimize) or higher values are
    better; metric_name: what the objective is called in the page;
    ran_with: what the study ran with beyond its spec (study.json: "trials",
    "overrides" (the command's --set), "steps"), shown with the spec.

    The page: summary (trial counts by state, the best value and its params);
    the top trials; per factor a table of the best per level, a box plot of
    the objective per level, the budget curves of all levels (Lucic et al.
    2018) and the best trial's newest sample grid per level; hyperparameter
    importance; the Pareto front of value against training seconds; the
    intermediate objective curves; the objective against examples seen and
    training seconds; what pruning saved; the seed spread; the best settings
    over seeds (reruns.json, from `ganscape study rerun`); the failed trials
    with their reasons; the spec.
    """
    analysis._check_direction(direction)
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    spec = _spec_info(spec_text)
    name = spec.get("name") or study_dir.name
    title = f"ganscape study: {name}"
    sign = analysis._sign(direction)
    done = sorted(analysis.completed(table), key=lambda t: (sign * float(t["value"]), t.get("number", 0)))
    counts = _state_counts(table)
    best = done[0] if done else None
    better = "lower" if direction == "minimize" else "higher"
    body: List[str] = []

    # summary
    if spec.get("description"):
        body.append(f"<p>{esc(spec['description'])}</p>")
    body.append("<h2>Summary</h2>")
    body.append(_table(["trials", *counts], [[len(table), *counts.values()]]))
    body.append(f"<p>Objective: {esc(metric_name)} ({esc(better)} is better).</p>")
    if best is None:
        body.append("<p><strong>No trial has completed yet</strong>: nothing to rank, plot or compare.</p>")
    else:
        body.append(f"<p>Best {esc(metric_name)}: <strong>{esc(_fmt(best['value']))}</strong> "
                    f"(trial {esc(best.get('number'))}) with {esc(_params_text(best.get('params')))}</p>")

    # top trials
    body.append("<h2>Top trials</h2>")
    if done:
        names = analysis.param_names(done)
        rows = []
        for t in done[:TOP_N]:
            seeds = [v for v in (t.get("seed_values") or []) if analysis._finite(v)]
            spread = f"{_fmt(float(np.mean(seeds)))} \u00b1 {_fmt(float(np.std(seeds, ddof=1)))}" \
                if len(seeds) > 1 else _fmt(seeds[0] if seeds else None)
            rows.append([t.get("number"), float(t["value"]), spread, t.get("seconds"), t.get("steps"),
                         *((t.get("params") or {}).get(p) for p in names)])
        body.append(_table(["trial", metric_name, "seeds (mean \u00b1 std)", "seconds", "steps", *names], rows))
        if len(done) > TOP_N:
            body.append(_note(f"The best {TOP_N} of {len(done)} completed trials."))
    else:
        body.append(_note("No completed trial."))

    # per factor
    for factor in factors:
        body.append(f"<h2>Factor: {esc(factor)}</h2>")
        summary = analysis.level_summary(table, factor, direction)
        if not summary:
            body.append(_note(f"No trial sets {factor}."))
            continue
        body.append(_table(["level", "trials", "complete", "pruned", "failed", f"best {metric_name}",
                            "best trial", "median"],
                           [[r["level"], r["n_trials"], r["n_complete"], r["n_pruned"], r["n_failed"], r["best"],
                             r["best_trial"], r["median"]] for r in summary]))
        values = analysis.values_per_level(table, factor)
        if not any(values.values()):
            body.append(_note(f"No completed trial sets {factor}: no plots."))
            continue
        body.append(f"<h3>{esc(metric_name)} per level</h3>")
        body.append(_img(_box_plot(values, factor, metric_name), f"box plot of {metric_name} per {factor}"))
        curves = analysis.budget_curves_per_level(table, factor, n_boot=n_boot, direction=direction, level=level)
        body.append(f"<h3>{esc(metric_name)} as a function of the budget</h3>")
        body.append(_note(f"For k settings drawn with replacement from each level's finished trials "
                          f"({n_boot} draws), the best {metric_name}: the line is its mean, the band the spread "
                          f"of best-of-k outcomes (the central {level:.0%} of the draws), not a confidence "
                          "interval (Lucic et al. 2018). A failed trial counts as the worst value any "
                          "trial of the study reached, a pruned one as its last value; k stops at each "
                          "level's number of trials."))
        body.append(_img(_budget_plot(curves, factor, metric_name, direction, level),
                         f"budget curves per {factor}"))
        body.append("<h3>Samples of the best trial per level</h3>")
        grids = []
        for lv, (value, number) in analysis.best_per_level(table, factor, direction).items():
            trial = next((t for t in table if t.get("number") == number), {})
            dirs = trial.get("run_dirs") or []
            found = sample_grids(_resolve(study_dir, dirs[0])) if dirs else []
            caption = f"{factor}={lv}: trial {number}, {metric_name} {_fmt(value)}"
            if found:
                step, path = found[-1]
                caption += f", step {step}"
                img = _img(_file_uri(path), caption)
            else:
                img = _note("no sample grid")
            grids.append(f"<figure>{img}<figcaption>{esc(caption)}</figcaption></figure>")
        body.append(f'<div class="grids">{"".join(grids)}</div>')

    # importance
    body.append("<h2>Hyperparameter importance</h2>")
    if importance is None:
        body.append(_note("Not computed."))
    elif not importance:
        reason = getattr(importance, "reason", None) or "no importances"
        body.append(_note(f"No importances: {reason}."))
    else:
        body.append(_note("fANOVA (Hutter et al. 2014) over the completed trials, via Optuna; "
                          "the shares of the objective's variance each param explains."))
        body.append(_img(_importance_plot(dict(importance)), "hyperparameter importance"))
        body.append(_table(["param", "importance"], [[k, float(v)] for k, v in importance.items()]))

    # Pareto front
    body.append(f"<h2>{esc(metric_name)} against training time</h2>")
    front = analysis.pareto_front(table, "seconds", direction)
    if front:
        body.append(_img(_pareto_plot(done, front, metric_name), "Pareto front"))
        body.append(_note("Pareto front: the trials no other trial beats in both training seconds and "
                          f"{metric_name}."))
        body.append(_table(["trial", "seconds", metric_name, "params"],
                           [[t.get("number"), t.get("seconds"), float(t["value"]), _params_text(t.get("params"))]
                            for t in front]))
    else:
        body.append(_note("No completed trial with a training time."))
    curve_uri = _curves_plot(table, metric_name)
    if curve_uri:
        body.append("<h3>Objective during training</h3>")
        body.append(_img(curve_uri, "intermediate objective curves"))

    # against examples seen and wall-clock (the batch-size question)
    body.append(f"<h2>{esc(metric_name)} against examples seen and wall-clock</h2>")
    stats = {}
    for t in table:
        if t.get("curve") and t.get("run_dirs"):
            stats[t.get("number")], _ = _read_records(_resolve(study_dir, t["run_dirs"][0]) / rundir.STATS)
    cost_rows = analysis.objective_by_cost(table, stats, factors[0] if factors else None)
    cost_uri = _cost_plot(cost_rows, metric_name, factors[0] if factors else None) if cost_rows else None
    if cost_uri:
        body.append(_img(cost_uri, f"{metric_name} against examples seen and training seconds"))
        body.append(_note("Examples seen count every discriminator step's real batch; training seconds "
                          "sum the logged time per step (evaluations and checkpoints excluded)."))
    else:
        body.append(_note("No trial has intermediate objective values (objective.every) to plot."))

    # pruning
    body.append("<h2>Pruning</h2>")
    ps = analysis.pruning_savings(table, direction)
    if not ps["n_pruned"]:
        body.append(_note("No trial was pruned."))
    elif ps["steps_saved"] is None:
        body.append(_note(f"{ps['n_pruned']} trials were pruned after {_fmt(ps['steps_trained'])} steps in all; "
                          "no completed trial gives the full budget, so the saving is unknown."))
    else:
        secs = f" (about {_fmt(ps['seconds_saved'], 3)} s)" if ps["seconds_saved"] is not None else ""
        frac = f"{ps['fraction_saved']:.0%}"
        body.append(f"<p>Pruning stopped {esc(ps['n_pruned'])} trials after {esc(_fmt(ps['steps_trained']))} "
                    f"steps in all, of the {esc(_fmt(ps['steps_if_not_pruned']))} they would have trained "
                    f"({esc(_fmt(ps['full_steps']))} each): it saved {esc(_fmt(ps['steps_saved']))} steps"
                    f"{esc(secs)}, {esc(frac)} of the study's training. "
                    f"Best completed {esc(metric_name)}: {esc(_fmt(ps['best_value']))} "
                    f"(trial {esc(_fmt(ps['best_number']))}).</p>")
        body.append(_table(["pruned trial", "steps trained", f"last {metric_name}"],
                           [[p["number"], p["steps"], p["last_value"]] for p in ps["pruned"]]))

    # seeds
    body.append("<h2>Seed spread</h2>")
    spread = analysis.seed_spread(table)
    if spread:
        body.append(_table(["trial", "seeds", "mean", "std", "min", "max", "params"],
                           [[s["number"], s["n"], s["mean"], s["std"], s["min"], s["max"],
                             _params_text(s["params"])] for s in spread]))
    else:
        body.append(_note("No trial ran more than one seed."))

    # study rerun
    body.append("<h2>Best settings over seeds</h2>")
    body.extend(_reruns_section(study_dir, metric_name))

    # failures
    body.append("<h2>Failed and stopped trials</h2>")
    bad = [t for t in sorted(table, key=lambda t: t.get("number", 0))
           if t.get("state") == "failed" or t.get("reason")]
    if bad:
        body.append(_table(["trial", "state", "reason", "run folder", "params"],
                           [[t.get("number"), t.get("state"), t.get("reason") or "",
                             (t.get("run_dirs") or [""])[0], _params_text(t.get("params"))] for t in bad]))
    else:
        body.append(_note("No trial failed."))

    body.append("<h2>Spec</h2>")
    ran = _ran_with_rows(spec, ran_with)
    if ran:
        body.append(_note("What the study ran with: the command's --trials and --set replace the spec's "
                          "values below."))
        body.append(_table(["", "ran with", "the spec says"], ran))
    body.append(f"<pre>{esc(spec_text or '')}</pre>")

    html_path = _write(study_dir / "report.html", _page(title, body))
    md_path = _write(study_dir / "report.md", _study_markdown(title, spec, table, counts, best, factors,
                                                               importance, direction, metric_name, ran))
    return html_path, md_path


def _ran_with_rows(spec: Dict[str, Any], ran_with: Optional[Dict[str, Any]]) -> List[List[Any]]:
    """[what, the study's value, the spec's value] for the trials, the --set
    and the steps per trial the study ran with (from study.json)."""
    if not ran_with:
        return []
    rows: List[List[Any]] = []
    if "trials" in ran_with:
        rows.append(["trials", ran_with["trials"], spec.get("trials", "\u2014")])
    over = list(ran_with.get("overrides") or [])
    spec_set = spec.get("set")
    rows.append(["--set (after the spec's set)", " ".join(map(str, over)) if over else "(none)",
                 " ".join(map(str, spec_set)) if isinstance(spec_set, list) and spec_set else "(no set)"])
    if "steps" in ran_with:
        rows.append(["steps per trial", ran_with["steps"], "\u2014"])
    return rows


def _study_markdown(title: str, spec: Dict[str, Any], table: Sequence[Dict[str, Any]], counts: Dict[str, int],
                    best: Optional[Dict[str, Any]], factors: Sequence[str], importance: Optional[Dict[str, float]],
                    direction: str, metric_name: str, ran: Sequence[Sequence[Any]] = ()) -> str:
    lines = [f"# {_md(title)}", ""]
    if spec.get("description"):
        lines += [_md(spec["description"]), ""]
    if ran:
        lines += ["Ran with: " + "; ".join(f"{_md(what)} {_md(_fmt(v))}" for what, v, _ in ran) + ".", ""]
    lines.append(f"Trials: {len(table)} (" + ", ".join(f"{n} {_md(s)}" for s, n in counts.items()) + ").")
    lines.append("")
    if best is None:
        lines += ["No trial has completed yet.", ""]
    else:
        lines += [f"Best {_md(metric_name)}: **{_fmt(best['value'])}** (trial {_md(best.get('number'))}): "
                  f"{_md(_params_text(best.get('params')))}", ""]
    rows = []
    for factor in factors:
        bests = analysis.best_per_level(table, factor, direction)
        values = analysis.values_per_level(table, factor)
        for lv, (v, n) in bests.items():
            rows.append(f"| {_md(factor)} | {_md(lv)} | {_fmt(v)} | {_md(n)} | {len(values.get(lv, []))} |")
    if rows:
        lines += ["## Best level per factor", "",
                  f"| factor | level | best {_md(metric_name)} | trial | completed |", "|---|---|---|---|---|",
                  *rows, ""]
    lines += ["## Importance (fANOVA)", ""]
    if importance is None:
        lines += ["Not computed.", ""]
    elif not importance:
        lines += [f"None: {_md(getattr(importance, 'reason', None) or 'no importances')}.", ""]
    else:
        lines += ["| param | importance |", "|---|---|",
                  *(f"| {_md(k)} | {_fmt(float(v), 3)} |" for k, v in importance.items()), ""]
    lines += ["The full report, with plots: report.html.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run report

_PANELS = (("losses", lambda k: "loss" in k),
           ("discriminator outputs", lambda k: k in ("d_real", "d_fake") or k.startswith(("d_real_", "d_fake_"))),
           ("gradient norms", lambda k: "grad_norm" in k),
           ("seconds per step", lambda k: k == "sec_per_step"))


def stats_curve_keys(records: List[Dict[str, Any]]) -> List[str]:
    """The logged scalars with at least two finite points: a curve. A short
    run logs once or twice, and one point per panel is no curve; those
    values go in a table instead (see run_report)."""
    count: Dict[str, int] = {}
    for r in records:
        if _num(r.get("step")) is None:
            continue
        for k, v in r.items():
            if k not in ("step", "time") and _num(v) is not None and math.isfinite(_num(v)):
                count[k] = count.get(k, 0) + 1
    return [k for k, c in count.items() if c >= 2]


def _stats_plot(records: List[Dict[str, Any]]) -> Optional[str]:
    """Training curves: one panel per group of logged scalars (losses, D
    outputs, gradient norms, speed, the rest) that have a curve."""
    keys = stats_curve_keys(records)
    if not keys:
        return None
    groups: List[Tuple[str, List[str]]] = []
    left = list(keys)
    for name, match in _PANELS:
        ks = [k for k in left if match(k)]
        if ks:
            groups.append((name, ks))
            left = [k for k in left if k not in ks]
    if left:
        groups.append(("other", left))
    cols = len(groups) if len(groups) <= 4 else 3
    rows = math.ceil(len(groups) / cols)
    fig = _figure(4.2 * cols, 3.0 * rows)
    for i, (name, ks) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        for k in ks:
            pts = [(r.get("step"), _num(r.get(k))) for r in records if _num(r.get("step")) is not None]
            ax.plot([p[0] for p in pts], [np.nan if p[1] is None else p[1] for p in pts], label=_mpl(k))
        ax.set_title(_mpl(name), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    return _fig_uri(fig)


_METRIC_META = ("step", "n", "n_fake", "n_real", "seconds", "source", "time")


def metric_values(record: Dict[str, Any]) -> Dict[str, float]:
    """The metric values of one metrics.jsonl record: its "results" dict
    (nested dicts flattened with dots), or else its top-level numbers other
    than step, n and timings."""
    src = record.get("results")
    if not isinstance(src, dict):
        src = {k: v for k, v in record.items() if k not in _METRIC_META}
    out: Dict[str, float] = {}

    def walk(prefix: str, d: Dict[str, Any]) -> None:
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(key + ".", v)
            elif _num(v) is not None:
                out[key] = _num(v)

    walk("", src)
    return out


def metric_curves(records: List[Dict[str, Any]]) -> Dict[str, Dict[str, List[Tuple[float, float]]]]:
    """{metric: {source: [(step, value), ...]}} for the metrics evaluated at
    two steps or more by some source (a curve); a metric evaluated once is
    left to the table."""
    series: Dict[str, Dict[str, List[Tuple[float, float]]]] = {}
    for r in records:
        step = _num(r.get("step"))
        if step is None:
            continue
        for k, v in metric_values(r).items():
            series.setdefault(k, {}).setdefault(str(r.get("source", "eval")), []).append((step, v))
    return {k: by_source for k, by_source in series.items()
            if any(len({p[0] for p in pts}) >= 2 for pts in by_source.values())}


def _metrics_plot(records: List[Dict[str, Any]]) -> Optional[str]:
    series = metric_curves(records)
    if not series:
        return None
    names = list(series)[:12]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(4.2 * cols, 3.0 * rows)
    for i, k in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for source, pts in series[k].items():
            pts = sorted(pts)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=_mpl(source))
        ax.set_title(_mpl(k), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    return _fig_uri(fig)


def _read_records(path: Path) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    try:
        return [r for r in rundir.read_jsonl(path) if isinstance(r, dict)], None
    except (OSError, ValueError) as e:
        return [], f"could not read {Path(path).name}: {e}"


def run_report(run_dir: Path, max_grids: Optional[int] = None) -> Path:
    """Write RUN/report.html, a self-contained page for one run folder, and return its path.

    It shows the status (and its reason), the training curves from
    stats.jsonl, the metric curves and a table of every evaluation from
    metrics.jsonl, the sample grids samples/step_*.png over time in step
    order (all of them, or `max_grids` evenly spaced ones including the
    first and last), and config.json. Missing or partial files are said
    so, not fatal."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run} is not a folder")
    cfg_text, cfg_name = None, None
    if (run / rundir.CONFIG).exists():
        try:
            cfg = json.loads(rundir.read_own_text(run / rundir.CONFIG))
            cfg_text = json.dumps(cfg, indent=2)
            cfg_name = cfg.get("name") if isinstance(cfg, dict) else None
        except (OSError, ValueError) as e:
            cfg_text = f"(config.json could not be read: {e})"
    title = f"ganscape run: {run.name}" + (f" ({cfg_name})" if cfg_name and cfg_name != run.name else "")
    body: List[str] = ["<h2>Status</h2>"]
    try:
        status = rundir.read_status(run)
    except (OSError, ValueError) as e:
        status = {"status": f"unreadable status.json: {e}"}
    if status:
        body.append(_table(["status", "step", "reason"],
                           [[status.get("status"), status.get("step"), status.get("reason") or ""]]))
    else:
        body.append(_note("No status.json: the run has not started or did not record one."))

    stats, err = _read_records(run / rundir.STATS)
    body.append("<h2>Training curves</h2>")
    if err:
        body.append(_note(err))
    uri = _stats_plot(stats) if stats else None
    if uri:
        body.append(_img(uri, "training curves"))
    flat = [k for k in dict.fromkeys(k for r in stats for k in r if k not in ("step", "time")
                                     and _num(r.get(k)) is not None) if k not in stats_curve_keys(stats)]
    if stats and flat:  # logged once: no curve to draw, the values themselves
        body.append(_note(("Logged fewer than twice" if not uri else "Also logged, fewer than twice") +
                          ": no curve to draw; the values."))
        body.append(_table(["step", *flat], [[r.get("step"), *(_num(r.get(k)) for k in flat)] for r in stats
                                             if any(_num(r.get(k)) is not None for k in flat)]))
    elif not stats:
        body.append(_note("No training statistics logged yet."))

    metrics, err = _read_records(run / rundir.METRICS)
    body.append("<h2>Metrics</h2>")
    if err:
        body.append(_note(err))
    uri = _metrics_plot(metrics) if metrics else None
    if metrics and any(metric_values(r) for r in metrics):
        if uri:
            body.append(_img(uri, "metric curves"))
        once = [k for k in dict.fromkeys(k for r in metrics for k in metric_values(r)) if k not in
                metric_curves(metrics)]
        if once:
            body.append(_note(f"Evaluated at one step only ({', '.join(once[:8])}"
                              f"{', ...' if len(once) > 8 else ''}): no curve to draw; the values are in the table."))
        names: List[str] = []
        for r in metrics:
            names += [k for k in metric_values(r) if k not in names]
        body.append(_table(["step", "source", "n", *names],
                           [[r.get("step"), r.get("source", ""), r.get("n_fake", r.get("n")),
                             *(metric_values(r).get(k) for k in names)] for r in metrics]))
    else:
        body.append(_note("No evaluation recorded."))

    grids = sample_grids(run)
    body.append("<h2>Samples over training</h2>")
    links = _linked_samples(run)
    if links:
        body.append(_note(f"Not shown, symbolic links (never followed): {', '.join(links)}."))
    if not grids:
        body.append(_note("No sample grids."))
    else:
        shown = grids
        if max_grids is not None and 0 < max_grids < len(grids):
            idx = np.unique(np.round(np.linspace(0, len(grids) - 1, max_grids)).astype(int))
            shown = [grids[i] for i in idx]
            body.append(_note(f"{len(shown)} of {len(grids)} sample grids, evenly spaced."))
        figs = [f"<figure>{_img(_file_uri(p), f'step {s}')}<figcaption>step {esc(s)}</figcaption></figure>"
                for s, p in shown]
        body.append(f'<div class="grids">{"".join(figs)}</div>')

    body.append("<h2>Config</h2>")
    body.append(f"<pre>{esc(cfg_text)}</pre>" if cfg_text else _note("No config.json."))
    return _write(run / "report.html", _page(title, body))
