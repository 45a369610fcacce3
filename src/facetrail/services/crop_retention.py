"""Alert crop retention: crops past their own period are deleted; the alert records stay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.services.live_results import PurgeResult
from facetrail.store.live_models import Alert
from facetrail.store.types import utcnow


def purge_expired_crops(
    kernel: Kernel, context: Context, now: datetime | None = None
) -> PurgeResult:
    """Delete alert crops past their retention (as of `now`, default: now); the alert
    records stay, without the crop."""
    now = now or utcnow()
    store = kernel.alert_crops
    with kernel.database.transaction() as session:
        expired = list(
            session.scalars(
                select(Alert).where(Alert.crop_path.is_not(None), Alert.crop_retain_until <= now)
            )
        )
        if not expired:
            return PurgeResult(crops_deleted=0, alerts=[])
        paths = [a.crop_path for a in expired]
        for alert in expired:
            alert.crop_path = None
            alert.crop_deleted_at = now
        append_audit(
            session,
            actor=context.actor,
            action="live.alert.crops_deleted",
            outcome="ok",
            details={"alerts": [a.id for a in expired], "reason": "retention period ended"},
        )
    for path in paths:
        store.delete(path)
    return PurgeResult(crops_deleted=len(paths), alerts=[a.id for a in expired])
