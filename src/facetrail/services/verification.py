"""1:1 verification: are the faces in two photos the same person, under an authorisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import selectinload

from facetrail.biometrics.face import Face
from facetrail.biometrics.finite import require_finite
from facetrail.core.access import INVESTIGATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import AuthorisationError, NoFaceError
from facetrail.media.images import load_image
from facetrail.services.authorisations import check_covers
from facetrail.services.face_choice import pick_face
from facetrail.services.results import VerifyResult
from facetrail.store.calibration_store import calibration_label
from facetrail.store.models import Authorisation

VERIFY = declare("verify", "1:1 comparison of two photos", (INVESTIGATOR,))
# A verification is covered by an authorisation of either kind.
VERIFY_KINDS = ("verification", "retrospective_search")


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Two photos to compare, and the authorisation covering it (needed with accounts)."""

    image_a: Path | str | bytes
    image_b: Path | str | bytes
    pipeline: str | None = None  # default: the configured pipeline
    authorisation: int | None = None
    # Which face of a photo with several (1 = largest); refused when needed and not given.
    face_a: int | None = None
    face_b: int | None = None


class Verification:
    """The verify use case."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def _check_authorisation(self, context: Context, authorisation: int | None) -> None:
        """Accounts on: an authorisation is required; any given is checked like search's."""
        if authorisation is None:
            if context.signed_in:
                raise AuthorisationError(
                    "verification needs an authorisation (--authorisation) of kind"
                    f" {' or '.join(VERIFY_KINDS)} in a home with user accounts"
                )
            return
        with self.kernel.reader() as session:
            record = session.get(
                Authorisation, authorisation, options=[selectinload(Authorisation.galleries)]
            )
            check_covers(
                record,
                authorisation_id=authorisation,
                kind=VERIFY_KINDS,
                gallery=None,
                now=self.kernel.clock.now(),
                actor=context.actor if context.signed_in else None,
            )

    @requires(VERIFY)
    def verify(self, context: Context, request: VerifyRequest) -> VerifyResult:
        """1:1 comparison of one face in each image (the only one, or the one picked)."""
        authorisation = request.authorisation
        with self.kernel.audited_failure(context, "verify", None, authorisation):
            self._check_authorisation(context, authorisation)
            analyzer = self.kernel.analyzers.get(request.pipeline or self.kernel.settings.pipeline)
            decoded = [load_image(request.image_a), load_image(request.image_b)]
            faces: list[Face] = []
            found: list[int] = []
            used: list[int] = []
            chosen = {"A": request.face_a, "B": request.face_b}
            for label, image in zip(("A", "B"), decoded, strict=True):
                detected = analyzer.detect(image.pixels)
                if not detected:
                    raise NoFaceError(f"image {label} ({image.source}): no face found")
                found.append(len(detected))
                index = pick_face(
                    detected,
                    chosen[label],
                    option=f"--face-{label.lower()}",
                    what=f"image {label} ({image.source})",
                    hint=" (or --face N for both photos)",
                )
                used.append(index + 1)
                faces.append(analyzer.embed(image.pixels, detected[index]))
            score = require_finite(analyzer.compare(faces[0], faces[1]), "verify score")
            threshold = analyzer.calibration.threshold
            same = score >= threshold
            with self.kernel.unit_of_work(context) as work:
                entry = work.audit(
                    "verify",
                    authorisation_id=authorisation,
                    details={
                        "sha256": [image.sha256 for image in decoded],
                        "pipeline": str(analyzer.spec),
                        "score": round(score, 6),
                        "threshold": round(threshold, 6),
                        "same_person": same,
                        "faces_used": used,
                    },
                )
            return VerifyResult(
                score=round(score, 6),
                threshold=threshold,
                same_person=same,
                pipeline=str(analyzer.spec),
                calibration=calibration_label(analyzer.calibration),
                faces_found=found,
                faces_used=used,
                quality=[round(f.quality.score, 1) if f.quality else 0.0 for f in faces],
                audit_id=entry.id,
            )
