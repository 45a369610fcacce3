"""Administrator pages: users and roles, galleries, retention policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from facetrail.core.access import ROLES
from facetrail.interfaces.web.caller import CallerDep, PostCallerDep
from facetrail.interfaces.web.render import page
from facetrail.services.gallery_records import GalleryRequest

router = APIRouter(include_in_schema=False)


@router.get("/admin")
def admin_page(request: Request, caller: CallerDep) -> Response:
    services, context = caller.state.services, caller.context
    services.kernel.require(context, "users.manage")
    return page(
        request,
        "admin.html",
        caller,
        users=services.users.list(context),
        roles=ROLES,
        galleries=services.galleries.list(context),
        policies=services.retention.policies(context),
    )


@router.post("/admin/users")
def create_user(
    caller: PostCallerDep,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=50)],
    password: Annotated[str, Form(max_length=1000)],
    rank: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    caller.state.services.users.create(
        caller.context, name, role=role, password=password, rank=rank
    )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/disable")
def disable_user(
    caller: PostCallerDep, name: str, reason: Annotated[str, Form(max_length=4000)]
) -> Response:
    caller.state.services.users.disable(caller.context, name, reason)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/galleries")
def create_gallery(caller: PostCallerDep, name: Annotated[str, Form(max_length=200)]) -> Response:
    caller.state.services.galleries.create(caller.context, GalleryRequest(name))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/retention")
def set_retention(
    caller: PostCallerDep,
    scope: Annotated[str, Form(max_length=50)],
    key: Annotated[str, Form(max_length=500)],
    days: Annotated[int, Form(ge=1, le=36_600)],
) -> Response:
    caller.state.services.retention.set_policy(caller.context, scope, key, days)
    return RedirectResponse("/admin", status_code=303)
