"""Ranking a gallery's subjects against one probe face (shared by search and enrolment)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.subject_score import DEFAULT_SUBJECT_SCORE, subject_score, top_k
from facetrail.errors import InvalidInputError
from facetrail.index.catalog import IndexCatalog, vector_from_bytes
from facetrail.security.sealing import Sealer
from facetrail.services.retention_policy import usable_images
from facetrail.store.models import Gallery, Image, Subject, Template
from facetrail.store.types import utcnow

MIN_TEMPLATE_CANDIDATES = 100
TEMPLATE_CANDIDATES_PER_SUBJECT = 5  # a subject may hold several photos; look deeper than K
LOOKUP_BATCH = 10_000  # template ids per query (below SQLite's bound-parameter limit)


@dataclass(frozen=True, slots=True)
class SubjectMatch:
    """One gallery subject's score against a probe face (its best image, or the mean of
    its `images_scored` best images)."""

    subject_id: int
    subject: str
    image_id: int  # the subject's best-scoring image
    score: float
    images_scored: int = 1


def check_models(gallery: Gallery, analyzer: FaceAnalyzer) -> None:
    """Refuse a pipeline whose recognizers the gallery was not enrolled with."""
    enrolled = FaceAnalyzer.from_spec(gallery.pipeline).model_names
    missing = [m for m in analyzer.model_names if m not in enrolled]
    if missing:
        raise InvalidInputError(
            f"gallery {gallery.name!r} holds {', '.join(enrolled)} templates, not"
            f" {', '.join(missing)}; search it with a pipeline using {', '.join(enrolled)}"
            " or re-enrol it with that pipeline"
        )


def rank_subjects(
    session: Session,
    catalog: IndexCatalog,
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    face: Face,
    top: int,
    subject_method: str = DEFAULT_SUBJECT_SCORE,
) -> list[SubjectMatch]:
    """The `top` best-scoring subjects for an embedded face, best first (fused scores).

    `subject_method` scores a subject with several images (`biometrics.subject_score`).
    """
    return rank_subjects_batch(session, catalog, gallery, analyzer, [face], top, subject_method)[0]


def rank_subjects_batch(
    session: Session,
    catalog: IndexCatalog,
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    faces: list[Face],
    top: int,
    subject_method: str = DEFAULT_SUBJECT_SCORE,
) -> list[list[SubjectMatch]]:
    """For each embedded face, the `top` best subjects, best first; one index call per model.

    With a mean-top-k `subject_method`, every image of each candidate subject is scored
    (the index may have returned only some of them), so a subject's mean is over its
    true k best images.
    """
    try:
        k = top_k(subject_method)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    if not faces:
        return []
    per_face: list[dict[int, dict[str, float]]] = [{} for _ in faces]
    owners: dict[int, int] = {}
    names: dict[int, str] = {}
    for recognizer in analyzer.recognizers:
        depth = max(MIN_TEMPLATE_CANDIDATES, top * TEMPLATE_CANDIDATES_PER_SUBJECT)
        queries = np.stack([face.template(recognizer.name) for face in faces])
        _, ids, size = catalog.search(
            gallery.id, recognizer.name, recognizer.dim, queries, depth, gallery.index_factory
        )
        if size == 0:
            continue
        rescored = exact_scores(
            session, catalog.sealer, recognizer.dim, queries, ids, owners, names
        )
        for row, per_image in enumerate(per_face):
            for image_id, score in rescored[row]:
                per_image.setdefault(image_id, {})[recognizer.name] = score
    if k > 1:
        _add_candidates_other_images(session, catalog, analyzer, faces, per_face, owners)
    for face, per_image in zip(faces, per_face, strict=True):
        _fill_missing_scores(session, catalog, analyzer, face, per_image)
    # Past its effective retention (or not lawfully held): never shown, even if not yet erased.
    usable = usable_images(
        session, {image_id for per_image in per_face for image_id in per_image}, utcnow().date()
    )
    per_face = [{i: v for i, v in per_image.items() if i in usable} for per_image in per_face]
    return [_best_subjects(analyzer, per_image, owners, names, top, k) for per_image in per_face]


def exact_scores(
    session: Session,
    sealer: Sealer,
    dim: int,
    queries: np.ndarray,
    ids: np.ndarray,
    owners: dict[int, int],
    names: dict[int, str],
) -> list[list[tuple[int, float]]]:
    """Per query, (image id, exact score) of its candidates, re-scored from the templates.

    Compressed and Milvus indexes return approximate scores; every candidate is scored
    again against its stored template, so all index kinds rank alike. Candidates whose
    template the database no longer holds (-1 padding, deleted since the index was
    read) are dropped. The same query fills `owners` (image -> subject id) and `names`
    (subject id -> external id).
    """
    found = sorted({int(i) for i in ids.ravel() if i >= 0})
    vectors: dict[int, tuple[int, np.ndarray]] = {}
    for start in range(0, len(found), LOOKUP_BATCH):
        for template_id, image_id, blob, subject_id, name in session.execute(
            select(Template.id, Template.image_id, Template.vector, Subject.id, Subject.external_id)
            .join(Image, Template.image_id == Image.id)
            .join(Subject, Image.subject_id == Subject.id)
            .where(Template.id.in_(found[start : start + LOOKUP_BATCH]))
        ).tuples():
            vectors[template_id] = (image_id, vector_from_bytes(blob, dim, sealer))
            owners[image_id] = subject_id
            names[subject_id] = name
    out: list[list[tuple[int, float]]] = []
    for row, query in enumerate(queries):
        scored = []
        for template_id in ids[row]:
            hit = vectors.get(int(template_id))
            if hit is not None:
                scored.append((hit[0], float(np.dot(hit[1], query))))
        out.append(scored)
    return out


def _best_subjects(
    analyzer: FaceAnalyzer,
    per_image: dict[int, dict[str, float]],
    owners: dict[int, int],
    names: dict[int, str],
    top: int,
    k: int = 1,
) -> list[SubjectMatch]:
    """Fuse each image's model scores and score each subject from its `k` best images
    (the best image alone for k = 1), best first."""
    scored: dict[int, list[tuple[float, int]]] = {}
    n_models = len(analyzer.model_names)
    for image_id, model_scores in per_image.items():
        subject_id = owners.get(image_id)
        if subject_id is None or len(model_scores) < n_models:
            continue
        scored.setdefault(subject_id, []).append((analyzer.score_templates(model_scores), image_id))
    best: dict[int, tuple[float, int, int]] = {}  # subject -> (score, best image, images)
    for subject_id, images in scored.items():
        images.sort(key=lambda item: (-item[0], item[1]))
        used = min(k, len(images))
        score = subject_score((s for s, _ in images), k)
        best[subject_id] = (score, images[0][1], used)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:top]
    return [
        SubjectMatch(subject_id, names[subject_id], image_id, score, used)
        for subject_id, (score, image_id, used) in ranked
    ]


def _add_candidates_other_images(
    session: Session,
    catalog: IndexCatalog,
    analyzer: FaceAnalyzer,
    faces: list[Face],
    per_face: list[dict[int, dict[str, float]]],
    owners: dict[int, int],
) -> None:
    """Score, from stored vectors, every image of each face's candidate subjects that the
    index did not return (a mean over a subject's best images must see all of them)."""
    subjects = {owners[i] for per_image in per_face for i in per_image if i in owners}
    if not subjects:
        return
    dims = {r.name: r.dim for r in analyzer.recognizers}
    stored: dict[int, dict[str, np.ndarray]] = {}
    ordered = sorted(subjects)
    for start in range(0, len(ordered), LOOKUP_BATCH):
        rows = session.execute(
            select(Image.id, Image.subject_id, Template.model, Template.vector)
            .join(Template, Template.image_id == Image.id)
            .where(
                Image.subject_id.in_(ordered[start : start + LOOKUP_BATCH]),
                Template.model.in_(analyzer.model_names),
            )
        ).tuples()
        for image_id, subject_id, model, blob in rows:
            owners[image_id] = subject_id
            stored.setdefault(image_id, {})[model] = vector_from_bytes(
                blob, dims[model], catalog.sealer
            )
    for face, per_image in zip(faces, per_face, strict=True):
        mine = {owners[i] for i in per_image if i in owners}
        for image_id, vectors in stored.items():
            if owners[image_id] not in mine:
                continue
            scores = per_image.setdefault(image_id, {})
            for model, vector in vectors.items():
                if model not in scores:
                    scores[model] = float(np.dot(vector, face.template(model)))


def _fill_missing_scores(
    session: Session,
    catalog: IndexCatalog,
    analyzer: FaceAnalyzer,
    face: Face,
    per_image: dict[int, dict[str, float]],
) -> None:
    """Score, from stored vectors, the models whose index did not return an image."""
    if len(analyzer.model_names) == 1:
        return
    incomplete = [i for i, s in per_image.items() if len(s) < len(analyzer.model_names)]
    if not incomplete:
        return
    dims = {r.name: r.dim for r in analyzer.recognizers}
    rows = session.execute(
        select(Template.image_id, Template.model, Template.vector).where(
            Template.image_id.in_(incomplete), Template.model.in_(analyzer.model_names)
        )
    )
    for image_id, model, blob in rows:
        if model not in per_image[image_id]:
            stored = vector_from_bytes(blob, dims[model], catalog.sealer)
            per_image[image_id][model] = float(np.dot(stored, face.template(model)))
