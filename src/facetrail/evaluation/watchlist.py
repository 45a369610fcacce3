"""The live watchlist protocol: false alerts per passer-by and true positive identification
rate at a threshold, scaled to a larger watchlist the way the NPL study of the Met's live
facial recognition did.

The watchlist and passers-by come from the identification split (same seed, same
people): the enrolled images form the watchlist; the other images of enrolled people
are passers-by on the watchlist; everyone else's images are passers-by not on it.

Scaling to N entries: each non-watchlist face is compared with every measured watchlist
entry, giving the per-comparison false match rate FMR(T); a passer-by raises a false
alert when any of N independent comparisons reaches T, so FPIR(N) = 1 - (1 - FMR(T))^N.
A watchlist person is identified when their mate scores at least T and no one of the
N - 1 others outscores it: TPIR(N) = mean over mated searches of
[mate >= T] * (1 - FMR(mate score))^(N - 1). The measured FPIR and TPIR at the measured
size are reported beside the prediction for that size, as a check of the model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facetrail.errors import InvalidInputError
from facetrail.evaluation import metrics
from facetrail.evaluation.differentials import group_of, summarise
from facetrail.evaluation.identification import (
    DEFAULT_ENROLLED_FRACTION,
    DEFAULT_SEED,
    searched_split,
)
from facetrail.evaluation.runs import RunOptions, provenance
from facetrail.evaluation.scoring import cross_scores

PER_FACES = 10_000  # the sentence quotes false alerts per this many faces scanned
PER_THOUSAND = 1_000


def scaled_fpir(comparison_fmr: float, size: int) -> float:
    """Chance that a non-watchlist face alerts against `size` independent entries."""
    return float(1 - (1 - comparison_fmr) ** size)


def scaled_tpir(
    mate_scores: np.ndarray, impostors_sorted: np.ndarray, threshold: float, size: int
) -> float:
    """Chance that a watchlist face's mate scores >= threshold and outscores size - 1 others."""
    if mate_scores.size == 0:
        raise InvalidInputError("the watchlist protocol needs at least one mated search")
    tail = (impostors_sorted.size - np.searchsorted(impostors_sorted, mate_scores, "left")) / max(
        impostors_sorted.size, 1
    )
    hit = np.isfinite(mate_scores) & (mate_scores >= threshold)
    return float(np.mean(hit * (1 - tail) ** max(size - 1, 0)))


# False alerts per PER_FACES faces for which `eval watchlist` finds the threshold.
TARGET_FALSE_ALERTS = (100.0, 10.0, 1.0)


def _count(value: float) -> str:
    """1.6 -> '1.6', 284.43 -> '284', 9999.99 -> '10,000'."""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def sentence(size: int, threshold: float, false_alerts_per_10k: float, miss: float) -> str:
    """The plain statement a commander can read."""
    return (
        f"With a {size:,}-image watchlist at threshold {threshold:.3f} expect about "
        f"{_count(false_alerts_per_10k)} false alerts per {PER_FACES:,} faces scanned and to"
        f" miss {100 * miss:.1f}% of people on it."
    )


def comparison_fmr_for(fpir: float, size: int) -> float:
    """The per-comparison FMR at which a watchlist of `size` gives `fpir` (inverse of
    scaled_fpir)."""
    return float(-np.expm1(np.log1p(-fpir) / size))


def threshold_for_fpir(impostors_sorted: np.ndarray, fpir: float, size: int) -> float | None:
    """The lowest threshold keeping a `size` watchlist's FPIR at or below `fpir`, from the
    sorted impostor scores; None when there are too few impostors to measure that FMR."""
    fmr = comparison_fmr_for(fpir, size)
    allowed = int(np.floor(fmr * impostors_sorted.size + 1e-9))  # impostors that may reach T
    if allowed < 1:
        return None
    if allowed >= impostors_sorted.size:
        return float(impostors_sorted[0])
    return float(np.nextafter(impostors_sorted[-allowed - 1], np.inf))


def run_watchlist(
    images: Path,
    options: RunOptions,
    *,
    threshold: float,
    watchlist_size: int | None = None,
    enrolled_fraction: float = DEFAULT_ENROLLED_FRACTION,
    seed: int = DEFAULT_SEED,
    aliases: Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    threshold_source: str = "",
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Estimate false alerts and misses at `threshold` for a watchlist of `watchlist_size`."""
    started = time.perf_counter()
    if watchlist_size is not None and watchlist_size < 1:
        raise InvalidInputError(f"--watchlist-size must be at least 1, got {watchlist_size}")
    split, analyzer, templates, outcomes = searched_split(
        images, options, enrolled_fraction=enrolled_fraction, seed=seed, aliases=aliases
    )
    row = templates.index()
    references = np.array(
        [row[p] for _, p in split.gallery if templates.found[row[p]]], dtype=np.int64
    )
    nonmated_rows = np.array([row[p] for _, p in split.nonmated], dtype=np.int64)
    comparisons = cross_scores(analyzer, templates.templates, nonmated_rows, references)
    measured_size = int(references.size)
    size = watchlist_size or measured_size

    def estimate(nonmated: np.ndarray, mated: np.ndarray) -> dict[str, float | None]:
        impostors = np.sort(comparisons[nonmated].reshape(-1))
        fmr = metrics.false_match_rate(impostors, threshold) if impostors.size else None
        values: dict[str, float | None] = {
            "comparison_fmr": fmr,
            "fpir_measured": (
                metrics.fpir(outcomes.nonmated_top[nonmated], threshold) if nonmated.any() else None
            ),
            "tpir_measured": (
                1 - metrics.fnir(outcomes.rank1_mate_score[mated], threshold)
                if mated.any()
                else None
            ),
        }
        if fmr is not None:
            values["fpir_predicted_at_measured_size"] = scaled_fpir(fmr, measured_size)
            fpir = values["fpir"] = scaled_fpir(fmr, size)
            values["false_alerts_per_1000"] = PER_THOUSAND * fpir
        if fmr is not None and mated.any():
            tpir = values["tpir"] = scaled_tpir(
                outcomes.mate_score[mated], impostors, threshold, size
            )
            values["tpir_predicted_at_measured_size"] = scaled_tpir(
                outcomes.mate_score[mated], impostors, threshold, measured_size
            )
            values["miss_rate"] = 1 - tpir
        return values

    everyone = estimate(
        np.ones(len(split.nonmated), dtype=bool), np.ones(len(split.mated), dtype=bool)
    )
    false_alerts_10k = PER_FACES * float(everyone["fpir"] or 0.0)
    impostors_all = np.sort(comparisons.reshape(-1))
    operating_points = []
    for per_10k in TARGET_FALSE_ALERTS:
        point: dict[str, float | None] = {"false_alerts_per_10000": per_10k, "threshold": None}
        at = threshold_for_fpir(impostors_all, per_10k / PER_FACES, size)
        if at is not None:
            tpir = scaled_tpir(outcomes.mate_score, impostors_all, at, size)
            point = {"false_alerts_per_10000": per_10k, "threshold": at, "miss_rate": 1 - tpir}
        operating_points.append(point)
    result: dict[str, Any] = {
        "protocol": "watchlist",
        **provenance(analyzer, options, images.name),
        "inputs": {"images": str(images)},
        "threshold": threshold,
        "threshold_source": threshold_source,
        "watchlist_size": size,
        "measured_watchlist_size": measured_size,
        **everyone,
        "false_alerts_per_10000": false_alerts_10k,
        "sentence": sentence(size, threshold, false_alerts_10k, float(everyone["miss_rate"] or 0)),
        "thresholds_for_false_alerts": operating_points,
        "passers_by_on_watchlist": len(split.mated),
        "passers_by_not_on_watchlist": len(split.nonmated),
        "non_watchlist_comparisons": int(comparisons.size),
        "enrolled_fraction": enrolled_fraction,
        "seed": seed,
        "aliases_merged": len(aliases or {}),
        "model": "FPIR(N) = 1 - (1 - FMR(T))^N; TPIR(N) = mean [mate >= T] (1 - FMR(mate))^(N-1)",
        "images_embedded": templates.embedded,
        "images_from_cache": len(templates.paths) - templates.embedded,
    }
    if groups is not None:
        mated_groups = np.array([group_of(n, groups) or "" for n, _ in split.mated])
        nonmated_groups = np.array([group_of(n, groups) or "" for n, _ in split.nonmated])
        per_group = {}
        for group in sorted((set(mated_groups) | set(nonmated_groups)) - {""}):
            values = estimate(nonmated_groups == group, mated_groups == group)
            per_group[group] = {
                k: values.get(k) for k in ("fpir", "miss_rate", "fpir_measured", "comparison_fmr")
            }
        result["groups"] = summarise(per_group)
    result["seconds"] = round(time.perf_counter() - started, 1)
    scores = {
        "nonmated_top": outcomes.nonmated_top,
        "mate_score": outcomes.mate_score,
    }
    return result, scores
