"""The evaluation report: plain HTML with PNG plots (DET, score distributions, CMC).

Reads the runs saved under `$FACETRAIL_HOME/evaluations/` and shows the newest run of
each (protocol, pipeline, dataset) with its model versions, dataset, date, protocol and
the command that reproduces it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import shlex
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from facetrail.errors import InvalidInputError
from facetrail.evaluation import metrics
from facetrail.evaluation.runs import latest_per_protocol, load_runs

Run = tuple[dict[str, Any], dict[str, np.ndarray]]
FIGURE_SIZE = (6.4, 4.4)
DPI = 110
HISTOGRAM_BINS = 80
CMC_MAX_RANK = 50
FLOOR = 1e-5  # smallest rate drawn on log axes (a zero cannot be drawn there)


def _label(result: dict[str, Any]) -> str:
    flip = " +flip" if result.get("flip_averaged_templates") else ""
    return f"{result['pipeline']}{flip} ({result['dataset']})"


def _save(figure: Any, folder: Path, name: str) -> str:
    figure.tight_layout()
    figure.savefig(folder / name, dpi=DPI)
    plt.close(figure)
    return name


def _det_plot(runs: list[Run], folder: Path, name: str, kind: str) -> str | None:
    """DET curves (false non-match vs false match, log axes) of several runs overlaid."""
    figure, axes = plt.subplots(figsize=FIGURE_SIZE)
    drawn = False
    for result, scores in runs:
        if kind == "pairs":
            genuine, impostor = scores.get("genuine"), scores.get("impostor")
        else:
            genuine, impostor = scores.get("rank1_mate_score"), scores.get("nonmated_top")
        if genuine is None or impostor is None or not genuine.size or not impostor.size:
            continue
        _, fmr, fnmr = metrics.error_curve(genuine, impostor)
        axes.plot(np.maximum(fmr, FLOOR), np.maximum(fnmr, FLOOR), label=_label(result))
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xscale("log")
    axes.set_yscale("log")
    x_name, y_name = ("FMR", "FNMR") if kind == "pairs" else ("FPIR", "FNIR (rank 1)")
    axes.set_xlabel(x_name)
    axes.set_ylabel(y_name)
    axes.set_title(f"DET: {kind}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, folder, name)


def _histogram(
    result: dict[str, Any], scores: dict[str, np.ndarray], folder: Path, name: str
) -> str | None:
    """Score distributions of mated and non-mated comparisons of one run."""
    series = {
        "pairs": (("genuine", "same person"), ("impostor", "different people")),
        "identify": (("mate_score", "mate"), ("nonmated_top", "best non-mate")),
        "watchlist": (("mate_score", "watchlist mate"), ("nonmated_top", "best non-watchlist")),
    }.get(result["protocol"], ())
    figure, axes = plt.subplots(figsize=FIGURE_SIZE)
    drawn = False
    for key, label in series:
        values = scores.get(key)
        if values is None:
            continue
        finite = values[np.isfinite(values)]
        if finite.size:
            axes.hist(finite, bins=HISTOGRAM_BINS, alpha=0.55, density=True, label=label)
            drawn = True
    if not drawn:
        plt.close(figure)
        return None
    threshold = result.get("threshold") or result.get("threshold_all_pairs")
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set_xlabel("score")
    axes.set_ylabel("density")
    axes.set_title(f"scores: {_label(result)}", fontsize=9)
    axes.legend(fontsize=8)
    return _save(figure, folder, name)


def _cmc_plot(runs: list[Run], folder: Path, name: str) -> str | None:
    """Cumulative match characteristic curves of identification runs."""
    figure, axes = plt.subplots(figsize=FIGURE_SIZE)
    drawn = False
    ranks = np.arange(1, CMC_MAX_RANK + 1)
    for result, scores in runs:
        mate_rank = scores.get("mate_rank")
        if mate_rank is None or not mate_rank.size:
            continue
        curve = metrics.cmc(mate_rank, tuple(int(r) for r in ranks))
        axes.plot(ranks, [curve[int(r)] for r in ranks], marker=".", label=_label(result))
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xscale("log")
    axes.set_xlabel("rank")
    axes.set_ylabel("identification rate")
    axes.set_title("CMC")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, folder, name)


def reproduce_command(result: dict[str, Any]) -> str:
    """The command line that measures this run again."""
    inputs = result.get("inputs", {})
    parts = ["facetrail", "eval", result["protocol"]]
    if result["protocol"] == "pairs":
        parts += ["--pairs", inputs.get("pairs", "?")]
    parts += ["--images", inputs.get("images", "?"), "--pipeline", result["pipeline"]]
    if result["protocol"] in ("identify", "watchlist"):
        parts += ["--enrolled-fraction", str(result.get("enrolled_fraction")), "--seed"]
        parts += [str(result.get("seed"))]
    if result["protocol"] == "watchlist":
        parts += ["--threshold", f"{result['threshold']:.6f}"]
        parts += ["--watchlist-size", str(result["watchlist_size"])]
    if result.get("flip_averaged_templates"):
        parts.append("--flip")
    return shlex.join(parts)


def _headline(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The key figures of one run, as (name, value) rows."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f}%"

    rows: list[tuple[str, str]] = []
    if result["protocol"] == "pairs":
        rows += [
            (
                "accuracy",
                f"{pct(result['accuracy'])} ± {pct(result['std'])} "
                f"({result['folds']} folds, {result['folds_from']})",
            ),
            ("EER", pct(result["eer"])),
        ]
        for name, point in result["fnmr_at_fmr"].items():
            wide = result.get("fnmr_at_fmr_all_impostors", {}).get(name, {})
            rows.append(
                (
                    f"FNMR at FMR {name}",
                    f"{pct(point['error'])} (file's pairs); "
                    f"{pct(wide.get('error'))} "
                    f"(all {result['all_impostor_comparisons']:,} impostors)",
                )
            )
        rows.append(("pairs / images", f"{result['pairs']} / {result['images']}"))
    elif result["protocol"] == "identify":
        rows += [(f"rank {r}", pct(v)) for r, v in result["cmc"].items()]
        for name, point in result["fnir_at_fpir"].items():
            threshold = point["threshold"]
            at = "" if threshold is None else f" at threshold {threshold:.4f}"
            rows.append((f"FNIR at FPIR {name}", pct(point["error"]) + at))
        rows.append(
            (
                "searches",
                f"{result['mated_searches']} mated, {result['nonmated_searches']} "
                f"non-mated; gallery {result['gallery_size']}",
            )
        )
    elif result["protocol"] == "watchlist":
        rows += [
            ("statement", result["sentence"]),
            ("false alerts per 1,000", f"{result.get('false_alerts_per_1000', 0):.2f}"),
            ("miss rate", pct(result.get("miss_rate"))),
            (
                "measured at size",
                f"{result['measured_watchlist_size']:,}: FPIR "
                f"{pct(result.get('fpir_measured'))}, TPIR {pct(result.get('tpir_measured'))}",
            ),
            ("threshold from", result.get("threshold_source", "")),
        ]
    return rows


def _groups_html(result: dict[str, Any]) -> str:
    groups = result.get("groups")
    if not groups:
        return ""
    names = list(groups["groups"])
    head = "".join(f"<th>{html.escape(g)}</th>" for g in names)
    body = []
    for metric, ratio in groups["ratios"].items():
        cells = "".join(
            "<td>"
            + (
                ""
                if groups["groups"][g].get(metric) is None
                else f"{groups['groups'][g][metric]:.4f}"
            )
            + "</td>"
            for g in names
        )
        r = (
            ""
            if ratio["ratio"] is None
            else f"{ratio['ratio']:.2f} (worst: {html.escape(ratio['worst'])})"
        )
        body.append(f"<tr><td>{html.escape(metric)}</td>{cells}<td>{r}</td></tr>")
    return (
        "<h4>Per group (labels supplied by the caller; facetrail never infers them)</h4>"
        f"<table><tr><th>metric</th>{head}<th>worst / best</th></tr>{''.join(body)}</table>"
    )


def write_report(results_dir: Path, output: Path) -> dict[str, Any]:
    """Write output/report.html and its PNG plots from the saved runs; returns what it wrote."""
    runs = latest_per_protocol(load_runs(results_dir)) if results_dir.is_dir() else []
    if not runs:
        raise InvalidInputError(
            f"no saved evaluations in {results_dir}: run `facetrail eval pairs|identify|watchlist`"
            " first"
        )
    output.mkdir(parents=True, exist_ok=True)
    plots: list[str] = []
    by_protocol = {p: [r for r in runs if r[0]["protocol"] == p] for p in ("pairs", "identify")}
    overview = [
        _det_plot(by_protocol["pairs"], output, "det_pairs.png", "pairs"),
        _det_plot(by_protocol["identify"], output, "det_identify.png", "identify"),
        _cmc_plot(by_protocol["identify"], output, "cmc.png"),
    ]
    plots += [p for p in overview if p]
    sections = []
    for number, (result, scores) in enumerate(runs, 1):
        histogram = _histogram(result, scores, output, f"scores_{number}.png")
        if histogram:
            plots.append(histogram)
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in [
                ("protocol", result["protocol"]),
                ("pipeline", result["pipeline"]),
                ("models", ", ".join(f"{m} {v}" for m, v in result["models"].items())),
                ("dataset", result["dataset"]),
                ("measured at", result["measured_at"]),
                ("face selection", result.get("face_selection", "")),
                ("flip-averaged templates", str(result.get("flip_averaged_templates"))),
                ("facetrail", result.get("facetrail_version", "")),
                *_headline(result),
            ]
        )
        details = {k: v for k, v in result.items() if k not in ("det", "groups")}
        sections.append(
            f"<h3>{number}. {html.escape(result['protocol'])}: {html.escape(_label(result))}</h3>"
            f"<table>{rows}</table>"
            f"<p>Reproduce: <code>{html.escape(reproduce_command(result))}</code></p>"
            + _groups_html(result)
            + (f'<img src="{histogram}" alt="score distributions">' if histogram else "")
            + "<details><summary>all figures (JSON)</summary><pre>"
            + html.escape(json.dumps(details, indent=1))
            + "</pre></details>"
        )
    overview_html = "".join(f'<img src="{p}" alt="{p}">' for p in overview if p)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facetrail accuracy report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}}img{{max-width:49%}}code{{background:#f4f4f4}}</style>
</head><body>
<h1>facetrail accuracy report</h1>
<p>Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from {len(runs)} saved run(s) in
<code>{html.escape(str(results_dir))}</code>. Definitions (ISO/IEC 19795-1, NIST FRTE):
FMR = share of impostor comparisons at or above threshold; FNMR = share of genuine
comparisons below it (a face not found counts as a non-match); FPIR = share of non-mated
searches returning any candidate at or above threshold; FNIR = share of mated searches
whose mate is not returned at rank 1 at or above threshold.</p>
<h2>Overview</h2>{overview_html}
<h2>Runs</h2>{"".join(sections)}
</body></html>
"""
    page_path = output / "report.html"
    temporary = output / "report.html.tmp"
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(page_path)
    return {
        "html": str(page_path),
        "plots": [str(output / p) for p in plots],
        "runs": [
            {"protocol": r["protocol"], "pipeline": r["pipeline"], "dataset": r["dataset"]}
            for r, _ in runs
        ],
    }
