"""Enrolled subjects: listing, showing their images' provenance, and deleting them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from facetrail.core.access import ADMINISTRATOR, INVESTIGATOR, OPERATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import NotFoundError
from facetrail.services.erasure import erase_images, finish_erasure
from facetrail.services.lookup import find_gallery, find_subject
from facetrail.services.results import DeleteResult, ImageInfo, SubjectDetail, SubjectInfo
from facetrail.store.models import Gallery, Image, Subject

SUBJECTS_READ = declare(
    "subjects.read", "list and show enrolled subjects", (OPERATOR, INVESTIGATOR, ADMINISTRATOR)
)
SUBJECTS_DELETE = declare(
    "subjects.delete", "delete a subject and everything enrolled for them", (ADMINISTRATOR,)
)


def image_info(image: Image) -> ImageInfo:
    """An enrolled image's provenance as shown (never its template)."""
    return ImageInfo(
        id=image.id,
        sha256=image.sha256,
        file_name=image.file_name,
        format=image.format,
        width=image.width,
        height=image.height,
        source=image.source,
        legal_basis=image.legal_basis,
        collected_at=image.collected_at,
        retain_until=image.retain_until,
        photo_kept=image.photo_path is not None,
        quality=image.templates[0].quality if image.templates else None,
        models=sorted(t.model for t in image.templates),
        enrolled_at=image.created_at,
        provenance=image.provenance,
        quality_components=image.quality_components,
        low_quality=image.low_quality,
    )


class Subjects:
    """List, show and delete the subjects of a gallery."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(SUBJECTS_READ)
    def list(self, context: Context, gallery: str | None = None) -> list[SubjectInfo]:
        """Subjects of one gallery (or all), with their image counts."""
        with self.kernel.reader() as session:
            query = (
                select(Subject, Gallery.name, func.count(Image.id))
                .join(Gallery, Subject.gallery_id == Gallery.id)
                .outerjoin(Image, Image.subject_id == Subject.id)
                .group_by(Subject.id, Gallery.name)
                .order_by(Gallery.name, Subject.external_id)
            )
            if gallery is not None:
                query = query.where(Subject.gallery_id == find_gallery(session, gallery).id)
            return [
                SubjectInfo(
                    subject=subject.external_id,
                    gallery=gallery_name,
                    images=count,
                    created_at=subject.created_at,
                )
                for subject, gallery_name, count in session.execute(query)
            ]

    @requires(SUBJECTS_READ)
    def show(self, context: Context, gallery: str, subject: str) -> SubjectDetail:
        """One subject with the provenance of each enrolled image."""
        with self.kernel.reader() as session:
            record = find_subject(session, find_gallery(session, gallery), subject)
            images = session.scalars(
                select(Image)
                .where(Image.subject_id == record.id)
                .options(selectinload(Image.templates))
                .order_by(Image.id)
            ).all()
            return SubjectDetail(
                subject=record.external_id,
                gallery=gallery,
                images=len(images),
                created_at=record.created_at,
                image_records=[image_info(image) for image in images],
            )

    @requires(SUBJECTS_READ)
    def photo(self, context: Context, gallery: str, image_id: int) -> bytes:
        """The kept photo of one enrolled image of the gallery (side-by-side review), audited."""
        with self.kernel.unit_of_work(context) as work:
            record = find_gallery(work.session, gallery)
            image = work.session.get(Image, image_id)
            subject = work.session.get(Subject, image.subject_id) if image else None
            if image is None or subject is None or subject.gallery_id != record.id:
                raise NotFoundError(f"image {image_id} is not in gallery {gallery!r}")
            if not image.photo_path:
                raise NotFoundError(
                    f"image {image_id}: gallery {gallery!r} keeps templates only, not photos"
                )
            path = image.photo_path
            work.audit("subjects.photo", target=subject.external_id, gallery=gallery,
                       details={"image_id": image_id})  # fmt: skip
        return self.kernel.photos.read(path)

    @requires(SUBJECTS_DELETE)
    def delete(
        self, context: Context, gallery: str, subject: str, reason: str = ""
    ) -> DeleteResult:
        """Erase a subject: images, templates, index entries, photos and every copy."""
        with self.kernel.unit_of_work(context) as work:
            session = work.session
            gallery_record = find_gallery(session, gallery)
            record = find_subject(session, gallery_record, subject)
            images = list(
                session.scalars(
                    select(Image).where(Image.subject_id == record.id).order_by(Image.id)
                )
            )
            hashes = [i.sha256 for i in images]
            erasure = erase_images(
                self.kernel,
                session,
                [(image, gallery_record, record) for image in images],
                actor=context.actor,
                action="subject.delete",
                reasons={},
                subjects=[(record, gallery_record)],
                audit_each=False,
            )
            entry = work.audit(
                "subject.delete",
                gallery=gallery,
                target=subject,
                details={
                    "reason": reason,
                    "images": erasure.images,
                    "templates": erasure.templates,
                    "image_sha256": hashes,
                    "frozen_templates": erasure.frozen_templates,
                    "alerts_anonymised": erasure.alerts_anonymised,
                    "erasure_job": erasure.job_id,
                },
            )
        # The same finish as retention and granted deletion requests: journalled, so a
        # crash here is finished by the next open of the home (or `facetrail repair`).
        photos_deleted = finish_erasure(self.kernel, erasure)
        return DeleteResult(
            gallery=gallery,
            subject=subject,
            images_deleted=erasure.images,
            templates_deleted=erasure.templates,
            photos_deleted=photos_deleted,
            audit_id=entry.id,
            removed=erasure.by_kind,
        )
