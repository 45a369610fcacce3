"""Alerts after a deployment: listing, operator decisions, crop retention, deployment reports.

The system suggests, a human decides: every alert waits for an operator's outcome
(confirmed match, rejected as a false match, or no action), recorded with who decided,
when, whether an engagement was made and what came of it.
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
from sqlalchemy import Select, select
from sqlalchemy.orm import Mapped, Session

from facetrail.core.access import (
    AUDITOR,
    AUTHORISING_OFFICER,
    INVESTIGATOR,
    OPERATOR,
    declare,
    requires,
)
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.media.images import load_image
from facetrail.services.crop_retention import purge_expired_crops
from facetrail.services.live_results import AlertInfo, DeploymentReport
from facetrail.store.live_models import Alert, Deployment, FrozenTemplate
from facetrail.store.models import Authorisation
from facetrail.store.types import utcnow

ALERTS_READ = declare(
    "alerts.read", "read live alerts", (OPERATOR, INVESTIGATOR, AUTHORISING_OFFICER, AUDITOR)
)
ALERTS_DECIDE = declare("alerts.decide", "record the outcome of a live alert", (OPERATOR,))
REPORT_DEPLOYMENT = declare(
    "report.deployment", "report on a live deployment", (AUTHORISING_OFFICER, AUDITOR)
)


OUTCOMES = ("confirmed", "rejected", "no-action")
MAX_NOTE_LENGTH = 4000


def _reason(deployment_id: Mapped[int] | int, subject: Mapped[str] | str) -> Select[tuple[str]]:
    """Why the alert's subject is on the watchlist: the reason frozen with the version the
    deployment ran (what the authorisation covered, not a later edit); none once erased."""
    return (
        select(FrozenTemplate.reason)
        .join(Deployment, Deployment.watchlist_version_id == FrozenTemplate.version_id)
        .where(Deployment.id == deployment_id, FrozenTemplate.subject_external_id == subject)
        .limit(1)
    )


def _info(alert: Alert, kernel: Kernel, reason: str | None) -> AlertInfo:
    """An alert as shown, its files as paths under this home."""
    return AlertInfo(
        alert_id=alert.id,
        deployment_id=alert.deployment_id,
        subject=alert.subject_external_id,
        reason=reason,
        score=alert.score,
        threshold=alert.threshold,
        frame=alert.frame,
        time_s=alert.time_s,
        track=alert.track,
        quality=alert.quality,
        created_at=alert.created_at,
        outcome=alert.outcome,
        engagement=alert.engagement,
        result=alert.result,
        decided_by=alert.decided_by,
        decided_at=alert.decided_at,
        note=alert.note,
        crop_path=str(kernel.alert_crops.resolve(alert.crop_path)) if alert.crop_path else None,
        reference_path=(
            str(kernel.watchlist_references.resolve(alert.reference_path))
            if alert.reference_path
            else None
        ),
        crop_retain_until=alert.crop_retain_until,
        crop_deleted=alert.crop_deleted_at is not None,
    )


def _reason_of(session: Session, alert: Alert) -> str | None:
    """The watchlist reason of one loaded alert."""
    return session.scalar(_reason(alert.deployment_id, alert.subject_external_id))


class Alerts:
    """The alerts of one facetrail home."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(ALERTS_READ)
    def list(
        self, context: Context, deployment: int | None = None, undecided: bool = False
    ) -> list[AlertInfo]:
        """Alerts, newest first (of one deployment, or only those awaiting a decision)."""
        purge_expired_crops(self.kernel, context)
        with self.kernel.database.reader() as session:
            query = select(
                Alert, _reason(Alert.deployment_id, Alert.subject_external_id).scalar_subquery()
            ).order_by(Alert.id.desc())
            if deployment is not None:
                query = query.where(Alert.deployment_id == deployment)
            if undecided:
                query = query.where(Alert.outcome.is_(None))
            return [_info(a, self.kernel, reason) for a, reason in session.execute(query)]

    @requires(ALERTS_READ)
    def show(self, context: Context, alert_id: int) -> AlertInfo:
        """One alert with its crop and reference paths."""
        purge_expired_crops(self.kernel, context)
        with self.kernel.database.reader() as session:
            alert = self._get(session, alert_id)
            return _info(alert, self.kernel, _reason_of(session, alert))

    @requires(ALERTS_READ)
    def side_by_side(self, context: Context, alert_id: int) -> bytes:
        """JPEG of the live crop (left) beside the watchlist image (right), for the operator."""
        info = self.show(context, alert_id)
        if info.crop_path is None:
            raise InvalidInputError(f"alert {alert_id}: its crop was deleted (retention ended)")
        panels = [load_image(self.kernel.alert_crops.read(info.crop_path)).pixels]
        if info.reference_path:
            panels.append(
                load_image(self.kernel.watchlist_references.read(info.reference_path)).pixels
            )
        height = max(p.shape[0] for p in panels)
        scaled = [
            cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height)) for p in panels
        ]
        ok, encoded = cv2.imencode(".jpg", np.hstack(scaled))
        if not ok:
            raise InvalidInputError(f"alert {alert_id}: could not compose the images")
        return encoded.tobytes()

    @staticmethod
    def _get(session: Session, alert_id: int) -> Alert:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError(f"alert {alert_id} does not exist (see `facetrail alerts list`)")
        return alert

    @requires(ALERTS_DECIDE)
    def decide(
        self,
        context: Context,
        alert_id: int,
        *,
        outcome: str,
        note: str,
        engagement: bool | None = None,
        result: str | None = None,
    ) -> AlertInfo:
        """Record the operator's decision on an alert (once), audited."""
        if outcome not in OUTCOMES:
            raise InvalidInputError(
                f"--outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}"
            )
        cleaned = note.strip()
        if not cleaned:
            raise InvalidInputError("a decision needs a --note saying what the operator compared")
        if len(cleaned) > MAX_NOTE_LENGTH:
            raise InvalidInputError(f"--note is over {MAX_NOTE_LENGTH} characters")
        if outcome == "rejected" and engagement:
            raise InvalidInputError(
                "an alert rejected as a false match records no engagement; use --outcome"
                " confirmed or no-action"
            )
        with self.kernel.database.transaction() as session:
            alert = self._get(session, alert_id)
            if alert.outcome is not None:
                raise InvalidInputError(
                    f"alert {alert_id} was already decided ({alert.outcome}) by"
                    f" {alert.decided_by} on {alert.decided_at:%Y-%m-%d %H:%M}"
                )
            deployment = session.get(Deployment, alert.deployment_id)
            alert.outcome = outcome
            alert.note = cleaned
            alert.engagement = engagement
            alert.result = (result or "").strip() or None
            alert.decided_by = context.actor
            alert.decided_at = utcnow()
            append_audit(
                session,
                actor=context.actor,
                action="live.alert.decide",
                outcome="ok",
                authorisation_id=deployment.authorisation_id if deployment else None,
                target=str(alert_id),
                details={
                    "deployment": alert.deployment_id,
                    "subject": alert.subject_external_id,
                    "outcome": outcome,
                    "engagement": engagement,
                    "result": alert.result,
                    "note": cleaned,
                },
            )
            return _info(alert, self.kernel, _reason_of(session, alert))

    @requires(REPORT_DEPLOYMENT)
    def report(self, context: Context, deployment_id: int) -> DeploymentReport:
        """The figures a post-deployment review asks for."""
        with self.kernel.database.reader() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is None:
                raise NotFoundError(f"deployment {deployment_id} does not exist")
            authorisation = session.get(Authorisation, deployment.authorisation_id)
            alerts = list(
                session.scalars(select(Alert).where(Alert.deployment_id == deployment_id))
            )
        outcomes = Counter(a.outcome for a in alerts)
        results = Counter(a.result for a in alerts if a.result)
        wall = deployment.frames / deployment.processing_fps if deployment.processing_fps else 0.0
        return DeploymentReport(
            deployment_id=deployment.id,
            status=deployment.status,
            started_at=deployment.started_at,
            ended_at=deployment.ended_at,
            duration_s=deployment.duration_s,
            place=deployment.place,
            source=deployment.source,
            authorisation_id=deployment.authorisation_id,
            authorising_officer=authorisation.officer_name if authorisation else "",
            authorising_rank=authorisation.officer_rank if authorisation else "",
            case_reference=authorisation.case_reference if authorisation else "",
            legal_basis=authorisation.legal_basis if authorisation else "",
            watchlist=deployment.watchlist_name,
            watchlist_version=deployment.watchlist_version,
            watchlist_size=deployment.watchlist_size,
            pipeline=deployment.pipeline,
            threshold=deployment.threshold,
            threshold_source=deployment.threshold_source,
            expected_false_alerts_per_face=deployment.expected_false_alerts_per_face,
            frames=deployment.frames,
            faces_processed=deployment.faces_processed,
            tracks=deployment.tracks,
            alerts=len(alerts),
            confirmed=outcomes["confirmed"],
            false_alerts=outcomes["rejected"],
            no_action=outcomes["no-action"],
            unadjudicated=outcomes[None],
            engagements=sum(1 for a in alerts if a.engagement),
            outcomes=dict(results),
            processing_fps=deployment.processing_fps,
            realtime_factor=round(deployment.duration_s / wall, 3) if wall else 0.0,
            reconnects=deployment.reconnects,
        )
