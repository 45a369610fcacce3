"""Every service of one kernel, built once per process and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.core.kernel import Kernel
from facetrail.services.alerts import Alerts
from facetrail.services.audit_export import AuditExportService
from facetrail.services.audit_trail import AuditTrail
from facetrail.services.authorising import Authorisations
from facetrail.services.calibrations import Calibrations
from facetrail.services.deletion import DeletionService
from facetrail.services.enrolment import Enrolment
from facetrail.services.examination import Examinations
from facetrail.services.galleries import Galleries
from facetrail.services.live import Deployments
from facetrail.services.maintenance import IndexMaintenance
from facetrail.services.record_exchange import RecordExchange
from facetrail.services.repair import Repair
from facetrail.services.retention import RetentionService
from facetrail.services.search import Search
from facetrail.services.subjects import Subjects
from facetrail.services.transparency import DpiaService, TransparencyService
from facetrail.services.users import UserService
from facetrail.services.verification import Verification
from facetrail.services.watchlists import Watchlists


@dataclass(frozen=True, slots=True)
class Services:
    """The use-case services of one home (each call brings its own Context)."""

    kernel: Kernel
    galleries: Galleries
    enrolment: Enrolment
    authorisations: Authorisations
    search: Search
    verification: Verification
    subjects: Subjects
    maintenance: IndexMaintenance
    audit: AuditTrail
    audit_export: AuditExportService
    users: UserService
    dpias: DpiaService
    reports: TransparencyService
    retention: RetentionService
    deletions: DeletionService
    watchlists: Watchlists
    alerts: Alerts
    deployments: Deployments
    calibrations: Calibrations
    examinations: Examinations
    records: RecordExchange
    repair: Repair


def build_services(kernel: Kernel) -> Services:
    """One instance of every service over `kernel`."""
    return Services(
        kernel=kernel,
        galleries=Galleries(kernel),
        enrolment=Enrolment(kernel),
        authorisations=Authorisations(kernel),
        search=Search(kernel),
        verification=Verification(kernel),
        subjects=Subjects(kernel),
        maintenance=IndexMaintenance(kernel),
        audit=AuditTrail(kernel),
        audit_export=AuditExportService(kernel),
        users=UserService(kernel),
        dpias=DpiaService(kernel),
        reports=TransparencyService(kernel),
        retention=RetentionService(kernel),
        deletions=DeletionService(kernel),
        watchlists=Watchlists(kernel),
        alerts=Alerts(kernel),
        deployments=Deployments(kernel),
        calibrations=Calibrations(kernel),
        examinations=Examinations(kernel),
        records=RecordExchange(kernel),
        repair=Repair(kernel),
    )
