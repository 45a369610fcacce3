"""The authorisation use cases: grant, revoke, list and show (each audited)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from facetrail.core.access import AUTHORISING_OFFICER, ROLES, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.services.accounts import check_active_user
from facetrail.services.authorisations import AuthorisationRequest, grant, revoke
from facetrail.services.results import AuthorisationInfo
from facetrail.store.models import Authorisation

AUTHORISATION_GRANT = declare(
    "authorisation.grant", "grant authorisations (never to oneself)", (AUTHORISING_OFFICER,)
)
AUTHORISATION_REVOKE = declare(
    "authorisation.revoke", "revoke authorisations", (AUTHORISING_OFFICER,)
)
AUTHORISATION_READ = declare("authorisation.read", "read authorisations", ROLES)


def authorisation_info(record: Authorisation) -> AuthorisationInfo:
    """An authorisation as shown and printed."""
    return AuthorisationInfo(
        id=record.id,
        kind=record.kind,
        purpose=record.purpose,
        case_reference=record.case_reference,
        legal_basis=record.legal_basis,
        necessity=record.necessity,
        proportionality=record.proportionality,
        officer_name=record.officer_name,
        officer_rank=record.officer_rank,
        dpia_reference=record.dpia_reference,
        galleries=sorted(g.name for g in record.galleries),
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        created_by=record.created_by,
        offence_category=record.offence_category,
        watchlists=record.watchlists or [],
        for_user=record.requested_by,
        revoked_at=record.revoked_at,
        revoked_by=record.revoked_by,
        revoked_reason=record.revoked_reason,
    )


def signed_in_officer(context: Context, officer: str, rank: str) -> tuple[str, str]:
    """The signed-in officer's name and rank; refuses a different name or rank given."""
    name = context.officer_name
    if officer and officer.strip() not in (name, context.actor):
        raise InvalidInputError(
            f"signed in as {context.actor!r} ({name}): an authorisation is recorded"
            f" under the officer granting it, not {officer!r}"
        )
    if rank and context.rank and rank.strip() != context.rank:
        raise InvalidInputError(f"{name}'s rank on record is {context.rank!r}, not {rank!r}")
    return name, context.rank or rank


class Authorisations:
    """Grant, revoke and read authorisations."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(AUTHORISATION_GRANT)
    def grant(self, context: Context, request: AuthorisationRequest) -> AuthorisationInfo:
        """Record an authorisation for the galleries in scope, and audit the grant.

        With user accounts the granting officer is the signed-in authorising officer (name
        and rank from their account) and `requested_by`, who will use it, someone else.
        """
        with (
            self.kernel.audited_failure(context, "authorisation.grant"),
            self.kernel.unit_of_work(context) as work,
        ):
            if context.signed_in:
                name, rank = signed_in_officer(context, request.officer_name, request.officer_rank)
                request = replace(request, officer_name=name, officer_rank=rank)
                if request.requested_by:
                    check_active_user(work.session, request.requested_by)
            record = grant(
                work.session,
                request,
                created_by=context.actor,
                rules=self.kernel.settings.authorisation_rules,
            )
            work.audit(
                "authorisation.grant",
                authorisation_id=record.id,
                target=record.case_reference,
                details={
                    "kind": record.kind,
                    "purpose": record.purpose,
                    "legal_basis": record.legal_basis,
                    "officer": record.officer_name,
                    "rank": record.officer_rank,
                    "dpia": record.dpia_reference,
                    "galleries": sorted(request.galleries),
                    "valid_until": record.valid_until.isoformat(),
                    "offence_category": record.offence_category,
                    "watchlists": record.watchlists,
                    "for_user": record.requested_by,
                },
            )
            return authorisation_info(record)

    @requires(AUTHORISATION_REVOKE)
    def revoke(self, context: Context, authorisation_id: int, reason: str) -> AuthorisationInfo:
        """Revoke an authorisation now (further use is refused), and audit it."""
        with self.kernel.unit_of_work(context) as work:
            record = revoke(work.session, authorisation_id, reason=reason, by=context.actor)
            work.audit(
                "authorisation.revoke",
                authorisation_id=record.id,
                target=record.case_reference,
                details={"reason": record.revoked_reason},
            )
            return authorisation_info(record)

    @requires(AUTHORISATION_READ)
    def list(self, context: Context) -> list[AuthorisationInfo]:
        """Every authorisation, newest first."""
        with self.kernel.reader() as session:
            records = session.scalars(
                select(Authorisation)
                .options(selectinload(Authorisation.galleries))
                .order_by(Authorisation.id.desc())
            )
            return [authorisation_info(record) for record in records]

    @requires(AUTHORISATION_READ)
    def show(self, context: Context, authorisation_id: int) -> AuthorisationInfo:
        """One authorisation."""
        with self.kernel.reader() as session:
            record = session.get(Authorisation, authorisation_id)
            if record is None:
                raise NotFoundError(f"authorisation {authorisation_id} does not exist")
            return authorisation_info(record)
