"""What one server process holds: the services, the model pool, metrics, jobs, deployments."""

from __future__ import annotations

from dataclasses import dataclass, field

from facetrail.interfaces.api.auth import SINGLE_OPERATOR_NOTICE
from facetrail.interfaces.api.deployments import RunningDeployments
from facetrail.interfaces.api.jobs import EnrolmentJobs
from facetrail.interfaces.api.metrics import Metrics
from facetrail.interfaces.api.pool import ModelPool
from facetrail.interfaces.api.services import Services


@dataclass
class ServerState:
    """Built once in the app lifespan, shared by every request of the process."""

    services: Services
    pool: ModelPool
    metrics: Metrics
    jobs: EnrolmentJobs = field(default_factory=EnrolmentJobs)
    deployments: RunningDeployments = field(default_factory=RunningDeployments)

    def notice(self) -> str:
        """The single-operator notice every page and health answer carries (else empty)."""
        return "" if self.services.kernel.accounts_exist() else SINGLE_OPERATOR_NOTICE
