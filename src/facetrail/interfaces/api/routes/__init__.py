"""Every API router, gathered in one place."""

from fastapi import APIRouter

from facetrail.interfaces.api.routes import (
    accounts,
    audit,
    authorisations,
    federated,
    galleries,
    identification,
    maintenance,
    oversight,
    records,
    reports,
    watch,
)

api = APIRouter(prefix="/api/v1")
for module in (
    identification,
    galleries,
    authorisations,
    watch,
    audit,
    reports,
    oversight,
    accounts,
    records,
    maintenance,
    federated,
):
    api.include_router(module.router)

__all__ = ["api"]
