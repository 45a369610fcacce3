"""Federation partners: register, re-policy, list, show and remove them (all audited)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.core.access import ADMINISTRATOR, AUDITOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NotFoundError
from facetrail.security.signing import fingerprint, load_public_key
from facetrail.security.tls import certificate_fingerprint, check_certificate
from facetrail.services.federation_policy import Policy
from facetrail.services.federation_results import PartnerInfo
from facetrail.services.federation_wire import current_policy, find_partner
from facetrail.store.federation_models import Partner, PartnerPolicy
from facetrail.store.models import Gallery
from facetrail.store.node_identity import check_node_name
from facetrail.store.oversight_models import Dpia
from facetrail.store.types import utcnow

MANAGE = declare(
    "federation.manage", "set up this node and its federation partners", (ADMINISTRATOR,)
)
READ = declare(
    "federation.read", "read the node identity, partners and exchanges", (ADMINISTRATOR, AUDITOR)
)


@dataclass(frozen=True, slots=True)
class PartnerRequest:
    """A partner to register: name, URL, Ed25519 public key (PEM) and its policy."""

    name: str
    url: str
    public_key: str
    policy: Policy
    tls_certificate: str | None = None  # the partner's self-signed certificate, pinned


def _info(session: Session, partner: Partner) -> PartnerInfo:
    version, policy = current_policy(session, partner)
    return PartnerInfo(
        name=partner.name,
        url=partner.url,
        fingerprint=partner.fingerprint,
        active=partner.active,
        policy_version=version,
        policy=policy.as_json(),
        created_at=partner.created_at,
        removed_at=partner.removed_at,
    )


def _check_galleries(session: Session, policy: Policy) -> None:
    known = set(session.scalars(select(Gallery.name)))
    missing = [g for g in policy.galleries if g not in known]
    if missing:
        raise NotFoundError(f"policy names gallery {', '.join(missing)}, which does not exist here")
    if policy.dpia and not session.scalar(select(Dpia.id).where(Dpia.reference == policy.dpia)):
        raise NotFoundError(
            f"policy cites DPIA {policy.dpia!r}, which is not recorded here (`facetrail dpia add`)"
        )


def _add_policy(session: Session, partner: Partner, policy: Policy, by: str) -> int:
    latest = session.scalar(
        select(func.max(PartnerPolicy.version)).where(PartnerPolicy.partner_id == partner.id)
    )
    version = (latest or 0) + 1
    session.add(
        PartnerPolicy(
            partner_id=partner.id, version=version, policy=policy.as_json(), created_by=by
        )
    )
    session.flush()
    return version


class Partners:
    """`facetrail partners add|policy|list|show|remove`."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(MANAGE)
    def add(self, context: Context, request: PartnerRequest) -> PartnerInfo:
        """Register a partner (or re-register a removed one) with its first policy version."""
        with self.kernel.audited_failure(context, "federation.partner.add"):
            check_node_name(request.name, "partner name")
            if not request.url.startswith(("http://", "https://")):
                raise InvalidInputError(f"--url must be http(s)://host:port, got {request.url!r}")
            load_public_key(request.public_key, f"{request.name}'s public key")
            if request.tls_certificate:
                check_certificate(request.tls_certificate.encode(), request.name)
            elif request.url.startswith("https://"):
                raise InvalidInputError(
                    f"an https partner needs its certificate to pin: --tls-certificate FILE"
                    f" (from `facetrail node show --json` at {request.name})"
                )
            with self.kernel.unit_of_work(context) as work:
                session = work.session
                _check_galleries(session, request.policy)
                partner = session.scalar(select(Partner).where(Partner.name == request.name))
                if partner is not None and partner.active:
                    raise InvalidInputError(
                        f"partner {request.name!r} is already registered; change its policy with"
                        " `facetrail partners policy` or remove it first"
                    )
                if partner is None:
                    partner = Partner(name=request.name)
                    session.add(partner)
                partner.url = request.url.rstrip("/")
                partner.public_key = request.public_key.strip() + "\n"
                partner.fingerprint = fingerprint(request.public_key)
                partner.tls_certificate = request.tls_certificate
                partner.tls_fingerprint = (
                    certificate_fingerprint(request.tls_certificate.encode())
                    if request.tls_certificate
                    else None
                )
                partner.active = True
                partner.removed_at = None
                partner.removed_by = None
                partner.created_by = context.actor
                session.flush()
                version = _add_policy(session, partner, request.policy, context.actor)
                work.audit(
                    "federation.partner.add",
                    target=request.name,
                    details={
                        "url": partner.url,
                        "fingerprint": partner.fingerprint,
                        "policy_version": version,
                        "policy": request.policy.as_json(),
                    },
                )
                return _info(session, partner)

    @requires(MANAGE)
    def set_policy(self, context: Context, name: str, policy: Policy) -> PartnerInfo:
        """A new version of the partner's policy (the old ones stay, for the record)."""
        with (
            self.kernel.audited_failure(context, "federation.partner.policy"),
            self.kernel.unit_of_work(context) as work,
        ):
            partner = find_partner(work.session, name)
            _check_galleries(work.session, policy)
            version = _add_policy(work.session, partner, policy, context.actor)
            work.audit(
                "federation.partner.policy",
                target=name,
                details={"policy_version": version, "policy": policy.as_json()},
            )
            return _info(work.session, partner)

    @requires(MANAGE)
    def remove(self, context: Context, name: str, reason: str = "") -> PartnerInfo:
        """Stop answering and asking a partner (its records stay)."""
        with (
            self.kernel.audited_failure(context, "federation.partner.remove"),
            self.kernel.unit_of_work(context) as work,
        ):
            partner = find_partner(work.session, name)
            partner.active = False
            partner.removed_at = utcnow()
            partner.removed_by = context.actor
            work.session.flush()
            work.audit("federation.partner.remove", target=name, details={"reason": reason})
            return _info(work.session, partner)

    @requires(READ)
    def list(self, context: Context) -> builtins.list[PartnerInfo]:
        """Every partner, active or removed, with its policy in force."""
        with self.kernel.reader() as session:
            partners = session.scalars(select(Partner).order_by(Partner.name))
            return [_info(session, p) for p in partners]

    @requires(READ)
    def show(self, context: Context, name: str) -> PartnerInfo:
        """One partner and its policy in force."""
        with self.kernel.reader() as session:
            return _info(session, find_partner(session, name, active=False))

    @requires(READ)
    def policy_history(self, context: Context, name: str) -> builtins.list[dict[str, object]]:
        """Every version of a partner's policy, oldest first."""
        with self.kernel.reader() as session:
            partner = find_partner(session, name, active=False)
            rows = session.scalars(
                select(PartnerPolicy)
                .where(PartnerPolicy.partner_id == partner.id)
                .order_by(PartnerPolicy.version)
            )
            return [
                {
                    "version": r.version,
                    "policy": r.policy,
                    "created_by": r.created_by,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]
