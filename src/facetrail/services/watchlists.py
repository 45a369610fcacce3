"""Watchlists: enrolled subjects to alert on, each with a reason and expiry, frozen per deployment.

An entry is searched only while it is within its own expiry and the subject still has an
enrolled image within that image's retain-until; other entries are excluded automatically
and the exclusion is reported. A deployment searches a frozen version: a copy of the
eligible templates (and a reference crop of each watchlist photo), so later enrolments
or deletions never change a running deployment.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.core.access import ADMINISTRATOR, ROLES, declare, requires
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import ConflictError, InvalidInputError, NotFoundError
from facetrail.services.live_results import (
    WatchlistEntryInfo,
    WatchlistInfo,
)
from facetrail.services.lookup import find_gallery
from facetrail.services.naming import validate_subject_id
from facetrail.services.watchlist_versions import eligible_entries, watchlist_by_name
from facetrail.store.live_models import Watchlist, WatchlistEntry
from facetrail.store.models import Gallery, Subject
from facetrail.store.types import utcnow

WATCHLIST_MANAGE = declare("watchlist.manage", "create and change watchlists", (ADMINISTRATOR,))
WATCHLIST_READ = declare("watchlist.read", "list and show watchlists", ROLES)


DEFAULT_ENTRY_DAYS = 28  # an entry without --expires lapses after four weeks
MAX_WATCHLIST_NAME = 200
MAX_REASON_LENGTH = 2000


class Watchlists:
    """Create, list, show and freeze watchlists of one facetrail home."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.references = kernel.watchlist_references

    # -- create, list, show ----------------------------------------------------------

    @requires(WATCHLIST_MANAGE)
    def create(
        self,
        context: Context,
        name: str,
        *,
        gallery: str,
        subjects: list[str] | None = None,
        reason: str,
        expires_on: date | None = None,
    ) -> WatchlistInfo:
        """A watchlist of the named subjects (default: every subject of the gallery)."""
        cleaned = name.strip()
        if not cleaned or len(cleaned) > MAX_WATCHLIST_NAME:
            raise InvalidInputError(f"watchlist name must be 1-{MAX_WATCHLIST_NAME} characters")
        why = reason.strip()
        if not why:
            raise InvalidInputError("each watchlist entry needs a reason for inclusion (--reason)")
        if len(why) > MAX_REASON_LENGTH:
            raise InvalidInputError(f"--reason is over {MAX_REASON_LENGTH} characters")
        today = utcnow().date()
        expiry = expires_on or today + timedelta(days=DEFAULT_ENTRY_DAYS)
        if expiry < today:
            raise InvalidInputError(f"--expires {expiry} is in the past; nothing was created")
        with self.kernel.database.transaction() as session:
            gallery_record = find_gallery(session, gallery)
            if session.scalar(select(Watchlist.id).where(Watchlist.name == cleaned)):
                raise ConflictError(f"watchlist {cleaned!r} already exists")
            chosen = self._subjects(session, gallery_record, subjects)
            watchlist = Watchlist(
                name=cleaned,
                gallery_id=gallery_record.id,
                version=0,
                created_by=context.actor,
                expires_on=expiry,
            )
            session.add(watchlist)
            session.flush()
            for subject in chosen:
                session.add(
                    WatchlistEntry(
                        watchlist_id=watchlist.id,
                        subject_id=subject.id,
                        reason=why,
                        expires_on=expiry,
                    )
                )
            session.flush()
            info = self._info(session, watchlist)
            append_audit(
                session,
                actor=context.actor,
                action="watchlist.create",
                outcome="ok",
                gallery=gallery_record.name,
                target=cleaned,
                details={
                    "subjects": [s.external_id for s in chosen],
                    "reason": why,
                    "expires_on": expiry.isoformat(),
                    "eligible": info.eligible,
                    "excluded": [e.model_dump() for e in info.excluded],
                },
            )
        return info

    @staticmethod
    def _subjects(session: Session, gallery: Gallery, names: list[str] | None) -> list[Subject]:
        query = select(Subject).where(Subject.gallery_id == gallery.id)
        if not names:
            found = list(session.scalars(query.order_by(Subject.external_id)))
            if not found:
                raise InvalidInputError(f"gallery {gallery.name!r} has no enrolled subjects")
            return found
        wanted = [validate_subject_id(n) for n in names]
        found_by_name = {
            s.external_id: s for s in session.scalars(query.where(Subject.external_id.in_(wanted)))
        }
        missing = [n for n in wanted if n not in found_by_name]
        if missing:
            raise NotFoundError(
                f"not enrolled in gallery {gallery.name!r}: {', '.join(missing)}; nothing created"
            )
        return [found_by_name[n] for n in dict.fromkeys(wanted)]

    @requires(WATCHLIST_READ)
    def list(self, context: Context) -> list[WatchlistInfo]:
        """Every watchlist with its entries and current exclusions."""
        with self.kernel.database.reader() as session:
            return [
                self._info(session, w)
                for w in session.scalars(select(Watchlist).order_by(Watchlist.name))
            ]

    @requires(WATCHLIST_READ)
    def show(self, context: Context, name: str) -> WatchlistInfo:
        """One watchlist with its entries and current exclusions."""
        with self.kernel.database.reader() as session:
            return self._info(session, watchlist_by_name(session, name))

    def _info(self, session: Session, watchlist: Watchlist) -> WatchlistInfo:
        gallery = session.get(Gallery, watchlist.gallery_id)
        assert gallery is not None
        eligibility = eligible_entries(session, watchlist, utcnow().date())
        entries = [
            WatchlistEntryInfo(
                subject=external_id,
                reason=entry.reason,
                expires_on=entry.expires_on,
                eligible=entry.id in eligibility.eligible,
                images=len(eligibility.eligible.get(entry.id, [])),
            )
            for entry, external_id in eligibility.entries
        ]
        return WatchlistInfo(
            name=watchlist.name,
            gallery=gallery.name,
            version=watchlist.version,
            created_at=watchlist.created_at,
            created_by=watchlist.created_by,
            expires_on=watchlist.expires_on,
            entries=entries,
            eligible=len(eligibility.eligible),
            excluded=eligibility.excluded,
        )
