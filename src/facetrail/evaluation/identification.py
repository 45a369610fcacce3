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
from facetrail.biometrics.subject_score import DEFAULT_SUBJECT_SCORE, SUBJECT_SCORES, top_k
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
MAX_IMAGES_PER_SUBJECT = 10


@dataclass(frozen=True, slots=True)
class Split:
    """Who is enrolled with which image, and which images are searched."""

    gallery: tuple[tuple[str, Path], ...]  # (identity, enrolled image)
    mated: tuple[tuple[str, Path], ...]  # (identity, probe) whose identity is enrolled
    nonmated: tuple[tuple[str, Path], ...]  # (identity, probe) whose identity is not
    distractors: int


def split_people(
    people: Mapping[str, list[Path]],
    enrolled_fraction: float,
    seed: int,
    images_per_subject: int = 1,
    split_as: int | None = None,
    multi_image_distractors: bool = False,
) -> Split:
    """The seeded enrolment split of a folder-per-person set (see the module docstring).

    With `images_per_subject` n above 1, only people with more than n images can be
    enrolled (each keeps at least one probe); their first n images are enrolled.
    `split_as` m (at least n) splits people as for m images per subject: only people
    with more than m images are enrolled, with their first n images, and searched with
    their images after the m-th, so runs with 1 ... m images search the same probes
    against the same people and distractors. `multi_image_distractors` enrols each
    distractor with its first n images too (a gallery where everyone has several photos),
    not only its first.
    """
    if not 1 <= images_per_subject <= MAX_IMAGES_PER_SUBJECT:
        raise InvalidInputError(
            f"--images-per-subject must be 1-{MAX_IMAGES_PER_SUBJECT}, got {images_per_subject}"
        )
    m = images_per_subject if split_as is None else split_as
    if not images_per_subject <= m <= MAX_IMAGES_PER_SUBJECT:
        raise InvalidInputError(
            f"--split-as must be from --images-per-subject ({images_per_subject}) to"
            f" {MAX_IMAGES_PER_SUBJECT}, got {m}"
        )
    if not 0 < enrolled_fraction < 1:
        raise InvalidInputError(
            f"--enrolled-fraction must be between 0 and 1 (exclusive), got {enrolled_fraction}"
        )
    multi = sorted(name for name, images in people.items() if len(images) > m)
    single = sorted(name for name, images in people.items() if len(images) <= m)
    if len(multi) < 2:
        raise InvalidInputError(
            "identification needs at least two people with two or more images each"
        )
    order = np.random.default_rng(seed).permutation(len(multi))
    count = min(max(1, round(enrolled_fraction * len(multi))), len(multi) - 1)
    enrolled = sorted(multi[i] for i in order[:count])
    searched_only = sorted(multi[i] for i in order[count:])
    n = images_per_subject
    gallery = [(name, image) for name in enrolled for image in people[name][:n]]
    per_distractor = n if multi_image_distractors else 1
    gallery += [(name, image) for name in single for image in people[name][:per_distractor]]
    mated = [(name, image) for name in enrolled for image in people[name][m:]]
    nonmated = [(name, image) for name in searched_only for image in people[name]]
    return Split(tuple(gallery), tuple(mated), tuple(nonmated), len(single))


def split_from_list(people: Mapping[str, list[Path]], enrol: set[Path]) -> Split:
    """The split a data set ships: the listed images are enrolled, the rest searched.

    A listed person's other images are mated searches; everyone with no listed image is
    searched non-mated.
    """
    known = {image for images in people.values() for image in images}
    unknown = sorted(str(p) for p in enrol - known)
    if unknown:
        raise InvalidInputError(
            f"--enrol-list names {len(unknown)} image(s) not in the data set, e.g. {unknown[0]}"
        )
    gallery: list[tuple[str, Path]] = []
    mated: list[tuple[str, Path]] = []
    nonmated: list[tuple[str, Path]] = []
    for name in sorted(people):
        listed = [p for p in people[name] if p in enrol]
        rest = [p for p in people[name] if p not in enrol]
        gallery += [(name, p) for p in listed]
        (mated if listed else nonmated).extend((name, p) for p in rest)
    if not gallery or not mated:
        raise InvalidInputError(
            "--enrol-list must enrol images of people who have others to search"
        )
    return Split(tuple(gallery), tuple(mated), tuple(nonmated), 0)


def read_enrol_list(path: Path, images: Path) -> set[Path]:
    """Image paths (one per line, relative to `images` or absolute; '#' comments)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise InvalidInputError(f"cannot read --enrol-list {path}: {error.strerror}") from None
    listed = set()
    for line in lines:
        entry = line.split("#", 1)[0].strip()
        if entry:
            candidate = Path(entry)
            listed.add(candidate if candidate.is_absolute() else images / candidate)
    if not listed:
        raise InvalidInputError(f"--enrol-list {path} lists no image")
    return listed


def subject_scores(
    scores: np.ndarray, owners: np.ndarray, subjects: int, method: str
) -> np.ndarray:
    """(searches x subjects) scores from (searches x enrolled images): each subject's max,
    or the mean of its top k ("mean-top-2", "mean-top-3"; fewer images: their mean)."""
    out = np.full((scores.shape[0], subjects), metrics.NO_SCORE)
    for subject in range(subjects):
        columns = scores[:, owners == subject]
        if columns.shape[1] == 0:
            continue
        if method == "max":
            out[:, subject] = columns.max(axis=1)
            continue
        k = top_k(method)
        top = -np.sort(-columns, axis=1)[:, :k]
        out[:, subject] = top.mean(axis=1)
    return out


@dataclass(frozen=True, slots=True)
class SearchOutcomes:
    """Per search: the mate's rank and rank-1 score (mated), the top score (non-mated)."""

    mate_rank: np.ndarray  # 1-based; 0 = mate not found (no face, or mate not enrolled)
    mate_score: np.ndarray  # the mate's score (NO_SCORE when not comparable)
    rank1_mate_score: np.ndarray  # mate's score if it is at rank 1, else NO_SCORE
    nonmated_top: np.ndarray  # best score of a non-mated search (NO_SCORE: no face)
    nonmated_best: tuple[str, ...]  # the enrolled identity giving that best score
    failed_to_enrol: tuple[str, ...]


def search_outcomes(
    analyzer: FaceAnalyzer,
    split: Split,
    templates: TemplateSet,
    subject_score: str = DEFAULT_SUBJECT_SCORE,
) -> SearchOutcomes:
    """Score every search against the gallery's subjects and read off ranks and top scores.

    A subject enrolled with several images is scored by `subject_score` over them.
    """
    if subject_score not in SUBJECT_SCORES:
        raise InvalidInputError(
            f"--subject-score must be one of {', '.join(SUBJECT_SCORES)}, got {subject_score!r}"
        )
    row = templates.index()
    images = [(name, row[path]) for name, path in split.gallery if templates.found[row[path]]]
    names = sorted({name for name, _ in images})
    column = {name: i for i, name in enumerate(names)}
    failed = tuple(dict.fromkeys(n for n, _ in split.gallery if n not in column))
    enrolled = [(name, column[name]) for name in names]
    owners = np.array([column[name] for name, _ in images], dtype=np.int64)
    references = np.array([r for _, r in images], dtype=np.int64)

    def against_gallery(rows: np.ndarray) -> np.ndarray:
        image_scores = cross_scores(analyzer, templates.templates, rows, references)
        return subject_scores(image_scores, owners, len(names), subject_score)

    mated_rows = np.array([row[p] for _, p in split.mated], dtype=np.int64)
    scores = against_gallery(mated_rows)
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
        nonmated_scores = against_gallery(nonmated_rows)
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
    images_per_subject: int = 1,
    enrol_list: set[Path] | None = None,
    subject_score: str = DEFAULT_SUBJECT_SCORE,
    split_as: int | None = None,
    multi_image_distractors: bool = False,
) -> tuple[Split, FaceAnalyzer, TemplateSet, SearchOutcomes]:
    """Split the people of `images` (seeded, or as `enrol_list` says), embed every image
    used and run every search."""
    people = person_images(images)
    if aliases:
        people = merge_aliases(people, aliases)
    split = (
        split_from_list(people, enrol_list)
        if enrol_list is not None
        else split_people(
            people,
            enrolled_fraction,
            seed,
            images_per_subject,
            split_as,
            multi_image_distractors=multi_image_distractors,
        )
    )
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
    outcomes = search_outcomes(analyzer, split, templates, subject_score)
    return split, analyzer, templates, outcomes


def run_identification(
    images: Path,
    options: RunOptions,
    *,
    enrolled_fraction: float = DEFAULT_ENROLLED_FRACTION,
    seed: int = DEFAULT_SEED,
    aliases: Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    images_per_subject: int = 1,
    enrol_list: set[Path] | None = None,
    subject_score: str = DEFAULT_SUBJECT_SCORE,
    split_as: int | None = None,
    multi_image_distractors: bool = False,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the identification protocol; returns (result for JSON, score arrays for plots)."""
    started = time.perf_counter()
    split, analyzer, templates, outcomes = searched_split(
        images,
        options,
        enrolled_fraction=enrolled_fraction,
        seed=seed,
        aliases=aliases,
        images_per_subject=images_per_subject,
        enrol_list=enrol_list,
        subject_score=subject_score,
        split_as=split_as,
        multi_image_distractors=multi_image_distractors,
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
        "images_per_subject": images_per_subject,
        "split_as": split_as if split_as is not None else images_per_subject,
        "multi_image_distractors": multi_image_distractors,
        "enrol_list": len(enrol_list) if enrol_list is not None else None,
        "subject_score": subject_score,
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
