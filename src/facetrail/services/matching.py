"""Ranking a gallery's subjects against one probe face (shared by search and enrolment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.subject_score import DEFAULT_SUBJECT_SCORE, subject_score, top_k
from facetrail.errors import InvalidInputError
from facetrail.index.catalog import IndexCatalog, vector_from_bytes
from facetrail.index.rerank import template_scores
from facetrail.security.sealing import Sealer
from facetrail.services.retention_policy import (
    RETENTION_COLUMNS,
    held_and_in_time,
    periods_apply,
    policies_in_force,
    usable,
    usable_images,
)
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
        scores, ids, size, exact = catalog.search(
            gallery.id,
            recognizer.name,
            recognizer.dim,
            queries,
            depth,
            gallery.index_factory,
            session,
        )
        if size == 0:
            continue
        if exact and len(analyzer.recognizers) == 1 and k == 1:
            # one model, best image per subject: the walk in score order is the ranking
            return _in_score_order(session, gallery, scores, ids, top)
        if exact:
            rescored = held_scores(session, scores, ids, owners, names)
        else:
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


def _in_score_order(
    session: Session, gallery: Gallery, scores: np.ndarray, ids: np.ndarray, top: int
) -> list[list[SubjectMatch]]:
    """The `top` subjects of exactly scored candidates (one model), reading metadata only
    as far down each candidate list as it takes to fill `top` usable subjects.

    With one model a subject's score is its best template's, so walking the candidates
    best first and keeping each subject's first usable one gives the ranking the whole
    list would. Candidates the database no longer holds, and images past retention or
    not lawfully held, are skipped. Usually one query for the first `top` and a few.
    """
    today = utcnow().date()
    policies = policies_in_force(session)
    facts: dict[int, tuple[int, int, str] | None] = {}  # template -> (image, subject, name)
    lookup = _FactLookup(session, gallery, policies, today)
    rows = ids.tolist()
    results: list[list[SubjectMatch]] = [[] for _ in rows]
    placed: list[set[int]] = [set() for _ in rows]
    done = [0] * len(rows)
    active = list(range(len(rows)))
    step = max(top, 16)  # one subject per template is usual: often one query
    while active:
        wanted = {t for q in active for t in rows[q][done[q] : done[q] + step] if t >= 0}
        lookup.fill(sorted(wanted - facts.keys()), facts)
        still = []
        for q in active:
            end = min(done[q] + step, len(rows[q]))
            for j in range(done[q], end):
                template_id = rows[q][j]
                fact = facts.get(template_id) if template_id >= 0 else None
                if fact is None or fact[1] in placed[q]:
                    continue
                placed[q].add(fact[1])
                results[q].append(SubjectMatch(fact[1], fact[2], fact[0], float(scores[q, j])))
                if len(results[q]) == top:
                    break
            done[q] = end
            if len(results[q]) < top and end < len(rows[q]) and rows[q][end] >= 0:
                still.append(q)
        active = still
        step *= 2
    return results


# Built once: SQLAlchemy memoises a statement's cache key, so each search skips that work.
# The candidates of one gallery's index: the gallery's name is known, so no join to it;
# a template the database no longer holds in that gallery is simply not returned.
_FACT_COLUMNS = (
    Template.id,
    Template.gallery_id,
    Template.image_id,
    Subject.id.label("subject_id"),
    Subject.external_id,
    Image.lawfully_held,
    Image.retain_until,
)
# Only the primary key in the WHERE: a gallery_id term there leads SQLite to scan the
# gallery's index instead of looking the ids up (checked on each row instead).
_FACT_WHERE = (Template.id.in_(bindparam("ids", expanding=True)),)
# With no retention period for the gallery or any legal basis, an image's own
# retain-until and lawful holding decide; its dates are not read.
_FACTS_PLAIN = (
    select(*_FACT_COLUMNS)
    .join(Image, Template.image_id == Image.id)
    .join(Subject, Image.subject_id == Subject.id)
    .where(*_FACT_WHERE)
)
_FACTS = (
    select(*_FACT_COLUMNS, *RETENTION_COLUMNS)
    .join(Image, Template.image_id == Image.id)
    .join(Subject, Image.subject_id == Subject.id)
    .where(*_FACT_WHERE)
)


class _FactLookup:
    """Subject and retention facts of one gallery's candidate templates."""

    def __init__(
        self,
        session: Session,
        gallery: Gallery,
        policies: dict[tuple[str, str], int],
        today: date,
    ) -> None:
        self.connection = session.connection()  # Core rows: no ORM loading per row
        self.gallery = gallery
        self.policies = policies
        self.today = today
        self.periods = periods_apply(gallery.name, policies)  # else the dates are not read

    def fill(self, found: list[int], facts: dict[int, tuple[int, int, str] | None]) -> None:
        """Fill facts[template] with (image, subject, name) when the database holds it in
        the gallery and its image may be used today, else None."""
        today, policies, name = self.today, self.policies, self.gallery.name
        statement, gallery_id = (_FACTS if self.periods else _FACTS_PLAIN), self.gallery.id
        for start in range(0, len(found), LOOKUP_BATCH):
            chunk = found[start : start + LOOKUP_BATCH]
            facts.update(dict.fromkeys(chunk))
            for row in self.connection.execute(statement, {"ids": chunk}):
                if row.gallery_id != gallery_id:
                    continue
                if self.periods:
                    ok = usable(row, row.lawfully_held, name, policies, today)
                else:
                    ok = held_and_in_time(row.lawfully_held, row.retain_until, today)
                if ok:
                    facts[row.id] = (row.image_id, row.subject_id, row.external_id)


def _owners(
    session: Session, found: list[int], owners: dict[int, int], names: dict[int, str]
) -> dict[int, int]:
    """template id -> image id of the templates the database holds, filling `owners`
    (image -> subject id) and `names` (subject id -> external id) in the same query."""
    images: dict[int, int] = {}
    for start in range(0, len(found), LOOKUP_BATCH):
        for template_id, image_id, subject_id, name in session.execute(
            select(Template.id, Template.image_id, Subject.id, Subject.external_id)
            .join(Image, Template.image_id == Image.id)
            .join(Subject, Image.subject_id == Subject.id)
            .where(Template.id.in_(found[start : start + LOOKUP_BATCH]))
        ).tuples():
            images[template_id] = image_id
            owners[image_id] = subject_id
            names[subject_id] = name
    return images


def held_scores(
    session: Session,
    scores: np.ndarray,
    ids: np.ndarray,
    owners: dict[int, int],
    names: dict[int, str],
) -> list[list[tuple[int, float]]]:
    """Per query, (image id, score) of candidates an index already scored exactly.

    Only the candidates' metadata is read (no template); one the database no longer
    holds (deleted since the index was read) is dropped, as in `exact_scores`.
    """
    images = _owners(session, sorted({int(i) for i in ids.ravel() if i >= 0}), owners, names)
    out: list[list[tuple[int, float]]] = []
    for row_ids, row_scores in zip(ids.tolist(), scores.tolist(), strict=True):
        out.append(
            [(images[t], s) for t, s in zip(row_ids, row_scores, strict=True) if t in images]
        )
    return out


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
        hits = [vectors[t] for t in ids[row].tolist() if t in vectors]
        if not hits:
            out.append([])
            continue
        exact = template_scores(np.stack([vector for _, vector in hits]), query)
        out.append([(image_id, s) for (image_id, _), s in zip(hits, exact.tolist(), strict=True)])
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
