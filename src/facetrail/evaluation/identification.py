"""The 1:N identification protocol: CMC and open-set FNIR at fixed FPIR (NIST FRTE).

On a folder-per-person set: of the people with at least two images, a seeded share is
enrolled with their first image and searched with the rest (mated searches); the other
such people are searched with every image but not enrolled (non-mated searches); people
with one image are enrolled as distractors. One template per enrolled person.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import InvalidInputError
from facetrail.evaluation import metrics
from facetrail.evaluation.datasets import merge_aliases, person_images
from facetrail.evaluation.differentials import group_of, summarise
from facetrail.evaluation.runs import RunOptions, provenance
from facetrail.evaluation.scoring import cross_scores
from facetrail.evaluation.templates import TemplateSet, compute_templates

DEFAULT_ENROLLED_FRACTION = 0.5
DEFAULT_SEED = 0
HIGHEST_NONMATED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Split:
    """Who is enrolled with which image, and which images are searched."""

    gallery: tuple[tuple[str, Path], ...]  # (identity, enrolled image)
    mated: tuple[tuple[str, Path], ...]  # (identity, probe) whose identity is enrolled
    nonmated: tuple[tuple[str, Path], ...]  # (identity, probe) whose identity is not
    distractors: int


def split_people(people: Mapping[str, list[Path]], enrolled_fraction: float, seed: int) -> Split:
    """The seeded enrolment split of a folder-per-person set (see the module docstring)."""
    if not 0 < enrolled_fraction < 1:
        raise InvalidInputError(
            f"--enrolled-fraction must be between 0 and 1 (exclusive), got {enrolled_fraction}"
        )
    multi = sorted(name for name, images in people.items() if len(images) >= 2)
    single = sorted(name for name, images in people.items() if len(images) == 1)
    if len(multi) < 2:
        raise InvalidInputError(
            "identification needs at least two people with two or more images each"
        )
    order = np.random.default_rng(seed).permutation(len(multi))
    count = min(max(1, round(enrolled_fraction * len(multi))), len(multi) - 1)
    enrolled = sorted(multi[i] for i in order[:count])
    searched_only = sorted(multi[i] for i in order[count:])
    gallery = [(name, people[name][0]) for name in enrolled + single]
    mated = [(name, image) for name in enrolled for image in people[name][1:]]
    nonmated = [(name, image) for name in searched_only for image in people[name]]
    return Split(tuple(gallery), tuple(mated), tuple(nonmated), len(single))


@dataclass(frozen=True, slots=True)
class SearchOutcomes:
    """Per search: the mate's rank and rank-1 score (mated), the top score (non-mated)."""

    mate_rank: np.ndarray  # 1-based; 0 = mate not found (no face, or mate not enrolled)
    mate_score: np.ndarray  # the mate's score (NO_SCORE when not comparable)
    rank1_mate_score: np.ndarray  # mate's score if it is at rank 1, else NO_SCORE
    nonmated_top: np.ndarray  # best score of a non-mated search (NO_SCORE: no face)
    nonmated_best: tuple[str, ...]  # the enrolled identity giving that best score
    failed_to_enrol: tuple[str, ...]


def search_outcomes(analyzer: FaceAnalyzer, split: Split, templates: TemplateSet) -> SearchOutcomes:
    """Score every search against the gallery and read off ranks and top scores."""
    row = templates.index()
    enrolled = [(name, row[path]) for name, path in split.gallery if templates.found[row[path]]]
    failed = tuple(name for name, path in split.gallery if not templates.found[row[path]])
    column = {name: i for i, (name, _) in enumerate(enrolled)}
    references = np.array([r for _, r in enrolled], dtype=np.int64)

    mated_rows = np.array([row[p] for _, p in split.mated], dtype=np.int64)
    scores = cross_scores(analyzer, templates.templates, mated_rows, references)
    mate_col = np.array([column.get(name, -1) for name, _ in split.mated])
    has_mate = mate_col >= 0
    mate_score = np.full(mated_rows.size, metrics.NO_SCORE)
    mate_score[has_mate] = scores[np.flatnonzero(has_mate), mate_col[has_mate]]
    # rank = 1 + other enrolled people scoring at least as high (ties go against the mate)
    above = (scores >= mate_score[:, None]).sum(axis=1) - has_mate
    comparable = has_mate & np.isfinite(mate_score)
    mate_rank = np.where(comparable, above + 1, 0)
    rank1 = np.where(mate_rank == 1, mate_score, metrics.NO_SCORE)

    nonmated_rows = np.array([row[p] for _, p in split.nonmated], dtype=np.int64)
    if references.size:
        nonmated_scores = cross_scores(analyzer, templates.templates, nonmated_rows, references)
        best = nonmated_scores.argmax(axis=1)
        nonmated_top = nonmated_scores[np.arange(best.size), best]
        nonmated_best = tuple(enrolled[i][0] for i in best)
    else:
        nonmated_top = np.full(nonmated_rows.size, metrics.NO_SCORE)
        nonmated_best = ("",) * nonmated_rows.size
    return SearchOutcomes(mate_rank, mate_score, rank1, nonmated_top, nonmated_best, failed)


def _highest_nonmated(split: Split, outcomes: SearchOutcomes) -> list[dict[str, Any]]:
    """The non-mated searches that scored highest: where to look for label errors (the
    same person under two names) before trusting a low-FPIR figure; merge with --aliases."""
    order = np.argsort(-outcomes.nonmated_top)[:HIGHEST_NONMATED_SHOWN]
    return [
        {
            "probe": str(split.nonmated[i][1]),
            "probe_identity": split.nonmated[i][0],
            "best_enrolled": outcomes.nonmated_best[i],
            "score": float(outcomes.nonmated_top[i]),
        }
        for i in order
        if np.isfinite(outcomes.nonmated_top[i])
    ]


def _operating_points(outcomes: SearchOutcomes) -> dict[str, dict[str, float | None]]:
    return {
        f"{target:g}": metrics.fnir_at_fpir(
            outcomes.rank1_mate_score, outcomes.nonmated_top, target
        ).as_dict()
        for target in metrics.FPIR_TARGETS
    }


def _group_metrics(
    split: Split,
    outcomes: SearchOutcomes,
    groups: Mapping[str, str],
    thresholds: dict[str, float],
) -> dict[str, object]:
    """Rank-1 miss rate, FNIR and FPIR per group at the all-group thresholds."""
    mated_groups = np.array([group_of(n, groups) or "" for n, _ in split.mated])
    nonmated_groups = np.array([group_of(n, groups) or "" for n, _ in split.nonmated])
    per_group: dict[str, dict[str, float | None]] = {}
    for group in sorted((set(mated_groups) | set(nonmated_groups)) - {""}):
        mated = mated_groups == group
        nonmated = nonmated_groups == group
        values: dict[str, float | None] = {
            "rank1_miss": (
                1 - metrics.cmc(outcomes.mate_rank[mated], (1,))[1] if mated.any() else None
            )
        }
        for name, threshold in thresholds.items():
            values[f"fnir@{name}"] = (
                metrics.fnir(outcomes.rank1_mate_score[mated], threshold) if mated.any() else None
            )
            values[f"fpir@{name}"] = (
                metrics.fpir(outcomes.nonmated_top[nonmated], threshold) if nonmated.any() else None
            )
        per_group[group] = values
    summary = summarise(per_group)
    summary["searches"] = {
        g: {"mated": int((mated_groups == g).sum()), "nonmated": int((nonmated_groups == g).sum())}
        for g in per_group
    }
    return summary


def searched_split(
    images: Path,
    options: RunOptions,
    *,
    enrolled_fraction: float,
    seed: int,
    aliases: Mapping[str, str] | None,
) -> tuple[Split, FaceAnalyzer, TemplateSet, SearchOutcomes]:
    """Split the people of `images`, embed every image used and run every search."""
    people = person_images(images)
    if aliases:
        people = merge_aliases(people, aliases)
    split = split_people(people, enrolled_fraction, seed)
    analyzer = FaceAnalyzer.from_spec(options.pipeline)
    paths = [p for _, p in split.gallery] + [p for _, p in split.mated + split.nonmated]
    templates = compute_templates(
        paths,
        options.pipeline,
        cache_dir=options.cache_dir,
        flip=options.flip,
        workers=options.workers,
        progress=options.progress,
    )
    outcomes = search_outcomes(analyzer, split, templates)
    return split, analyzer, templates, outcomes


def run_identification(
    images: Path,
    options: RunOptions,
    *,
    enrolled_fraction: float = DEFAULT_ENROLLED_FRACTION,
    seed: int = DEFAULT_SEED,
    aliases: Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the identification protocol; returns (result for JSON, score arrays for plots)."""
    started = time.perf_counter()
    split, analyzer, templates, outcomes = searched_split(
        images, options, enrolled_fraction=enrolled_fraction, seed=seed, aliases=aliases
    )
    at_fpir = _operating_points(outcomes)
    row = templates.index()
    result: dict[str, Any] = {
        "protocol": "identify",
        **provenance(analyzer, options, images.name),
        "inputs": {"images": str(images)},
        "cmc": {str(r): v for r, v in metrics.cmc(outcomes.mate_rank).items()},
        "rank1": metrics.cmc(outcomes.mate_rank, (1,))[1],
        "fnir_at_fpir": at_fpir,
        "enrolled_fraction": enrolled_fraction,
        "seed": seed,
        "aliases_merged": len(aliases or {}),
        "gallery_size": len(split.gallery) - len(outcomes.failed_to_enrol),
        "enrolled_people_with_searches": len({n for n, _ in split.mated}),
        "distractors": split.distractors,
        "failed_to_enrol": list(outcomes.failed_to_enrol),
        "mated_searches": len(split.mated),
        "nonmated_searches": len(split.nonmated),
        "searches_without_face": int(
            sum(not templates.found[row[p]] for _, p in split.mated + split.nonmated)
        ),
        "images": len(templates.paths),
        "unreadable_images": templates.unreadable,
        "images_embedded": templates.embedded,
        "images_from_cache": len(templates.paths) - templates.embedded,
        "highest_nonmated": _highest_nonmated(split, outcomes),
        "det": metrics.det_points(outcomes.rank1_mate_score, outcomes.nonmated_top),
        "definitions": {
            "fpir": "share of non-mated searches returning any candidate at or above threshold",
            "fnir": "share of mated searches whose mate is not at rank 1 at or above threshold",
        },
        "seconds": 0.0,
    }
    if groups is not None:
        thresholds = {
            f"fpir_{name}": point["threshold"]
            for name, point in at_fpir.items()
            if point["threshold"] is not None
        }
        result["groups"] = _group_metrics(split, outcomes, groups, thresholds)  # type: ignore[arg-type]
    result["seconds"] = round(time.perf_counter() - started, 1)
    scores = {
        "mate_rank": outcomes.mate_rank,
        "mate_score": outcomes.mate_score,
        "rank1_mate_score": outcomes.rank1_mate_score,
        "nonmated_top": outcomes.nonmated_top,
    }
    return result, scores
