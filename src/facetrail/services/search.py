"""Retrospective 1:N search: every face in a probe against a gallery, under an authorisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, selectinload

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.subject_score import DEFAULT_SUBJECT_SCORE, SUBJECT_SCORES
from facetrail.core.access import INVESTIGATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.index.catalog import IndexCatalog
from facetrail.services.authorisations import check_covers
from facetrail.services.lookup import find_gallery
from facetrail.services.matching import check_models, rank_subjects
from facetrail.services.probes import probe_image
from facetrail.services.results import Candidate, FaceResult, SearchResult
from facetrail.store.calibration_store import calibration_label
from facetrail.store.models import Authorisation, Gallery

SEARCH = declare("search", "1:N search of a gallery (under an authorisation)", (INVESTIGATOR,))

MAX_TOP = 200
DEFAULT_TOP = 50


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A probe (photo or ANSI/NIST-ITL transaction, path or bytes) against one gallery."""

    probe: Path | str | bytes
    gallery: str
    authorisation: int
    top: int = DEFAULT_TOP
    pipeline: str | None = None  # default: the gallery's own
    # How a subject with several photos is scored: "max" (its best photo) or
    # "mean-top-2"/"mean-top-3" (the mean of its 2 or 3 best); default measured, see README.
    subject_score: str = DEFAULT_SUBJECT_SCORE


def face_result(
    session: Session,
    catalog: IndexCatalog,
    gallery: Gallery,
    analyzer: FaceAnalyzer,
    face: Face,
    top: int,
    subject_score: str = DEFAULT_SUBJECT_SCORE,
) -> FaceResult:
    """One probe face's candidate list against the gallery, scored against the threshold."""
    threshold = analyzer.calibration.threshold
    matches = rank_subjects(session, catalog, gallery, analyzer, face, top, subject_score)
    quality = face.quality
    return FaceResult(
        box=[round(float(v), 1) for v in face.box],
        quality=round(quality.score, 1) if quality else 0.0,
        quality_components={
            k: round(v, 1) for k, v in (quality.components if quality else {}).items()
        },
        candidates=[
            Candidate(
                rank=rank,
                subject=m.subject,
                score=round(m.score, 6),
                above_threshold=m.score >= threshold,
                image_id=m.image_id,
                images_scored=m.images_scored,
            )
            for rank, m in enumerate(matches, 1)
        ],
    )


class Search:
    """The search use case."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(SEARCH)
    def search(self, context: Context, request: SearchRequest) -> SearchResult:
        """Every face in the probe against the gallery: top-K subjects each, authorised."""
        gallery, authorisation, top = request.gallery, request.authorisation, request.top
        with self.kernel.audited_failure(context, "search", gallery, authorisation):
            if not 1 <= top <= MAX_TOP:
                raise InvalidInputError(f"--top must be between 1 and {MAX_TOP}, got {top}")
            method = request.subject_score
            if method not in SUBJECT_SCORES:
                raise InvalidInputError(
                    f"--subject-score must be one of {', '.join(SUBJECT_SCORES)}, got {method!r}"
                )
            with self.kernel.reader() as session:
                gallery_record = find_gallery(session, gallery)
                record = session.get(
                    Authorisation, authorisation, options=[selectinload(Authorisation.galleries)]
                )
                check_covers(
                    record,
                    authorisation_id=authorisation,
                    kind="retrospective_search",
                    gallery=gallery,
                    actor=context.actor if context.signed_in else None,
                )
                assert record is not None
                capped = None  # the authorisation's cap applies: the cap is returned, and said
                if record.max_candidates is not None and top > record.max_candidates:
                    capped = top = record.max_candidates
                image = probe_image(request.probe)  # a photo or a transaction's FACE image
                analyzer = self.kernel.analyzers.get(request.pipeline or gallery_record.pipeline)
                check_models(gallery_record, analyzer)
                faces = analyzer.analyze(image.pixels)
                threshold = analyzer.calibration.threshold
                results = [
                    face_result(
                        session, self.kernel.catalog, gallery_record, analyzer, face, top, method
                    )
                    for face in faces
                ]
            with self.kernel.unit_of_work(context) as work:
                entry = work.audit(
                    "search",
                    gallery=gallery,
                    authorisation_id=authorisation,
                    details={
                        "probe_sha256": image.sha256,
                        "pipeline": str(analyzer.spec),
                        "top": top,
                        "top_requested": request.top,
                        "subject_score": method,
                        "faces": len(results),
                        "candidates_returned": [len(r.candidates) for r in results],
                        "above_threshold": [
                            sum(c.above_threshold for c in r.candidates) for r in results
                        ],
                        "threshold": round(threshold, 6),
                        # What the officer was shown, to reconstruct each result later
                        # (subject, enrolled image, rank, score; never a template).
                        "shown": [
                            [
                                {
                                    "rank": c.rank,
                                    "subject": c.subject,
                                    "image_id": c.image_id,
                                    "score": round(c.score, 6),
                                }
                                for c in r.candidates
                            ]
                            for r in results
                        ],
                    },
                )
            return SearchResult(
                gallery=gallery,
                pipeline=str(analyzer.spec),
                threshold=threshold,
                calibration=calibration_label(analyzer.calibration),
                authorisation=authorisation,
                audit_id=entry.id,
                faces=results,
                top_capped_to=capped,
                subject_score=method,
            )
