"""Federation pages: step 1 (ask partners hit/no-hit), step 2 (confirm a candidate, see the
released record), and the approval queue of partners' step-2 requests."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from facetrail.errors import FacetrailError
from facetrail.interfaces.api.federated_services import federation_services
from facetrail.interfaces.api.routes.params import RecordId
from facetrail.interfaces.api.uploads import read_image
from facetrail.interfaces.web.caller import Caller, CallerDep, PostCallerDep
from facetrail.interfaces.web.render import page
from facetrail.media.images import sniff_format
from facetrail.records import read_transaction
from facetrail.services.federated_exchange import ConfirmRequest
from facetrail.services.federated_search import DEFAULT_TOP, FederatedSearchRequest
from facetrail.services.federation_policy import MAX_CANDIDATES
from facetrail.services.federation_results import ExchangeResult

router = APIRouter(include_in_schema=False)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _authorisations(caller: Caller) -> list[Any]:
    services, context = caller.state.services, caller.context
    return [
        a
        for a in services.authorisations.list(context)
        if a.revoked_at is None and a.kind == "federated_query"
    ]


@router.get("/federated")
def federated_page(request: Request, caller: CallerDep) -> Response:
    """The federated search form."""
    caller.state.services.kernel.require(caller.context, "federation.search")
    return page(request, "federated.html", caller, authorisations=_authorisations(caller))


@router.post("/federated")
async def federated_search(
    request: Request,
    caller: PostCallerDep,
    probe: Annotated[UploadFile, File()],
    partners: Annotated[str, Form(max_length=2000)],
    authorisation: Annotated[int, Form(ge=1, le=2**62)],
    top: Annotated[int, Form(ge=1, le=MAX_CANDIDATES)] = DEFAULT_TOP,
) -> Response:
    """Step 1: each partner answers hit / no hit / refused (reason) / timeout, alone."""
    data = await read_image(probe, "probe")
    search = FederatedSearchRequest(data, _names(partners), authorisation, top=top)
    service = federation_services(caller.state).federated
    result = await run_in_threadpool(service.search, caller.context, search)
    choices = await run_in_threadpool(_authorisations, caller)
    return page(
        request, "federated.html", caller, result=result, partners=partners, authorisations=choices
    )


def _released_images(result: ExchangeResult) -> list[dict[str, Any]]:
    """The released Type-10 images as data URIs, for this examiner's browser only."""
    if not result.record or not result.record.get("type10"):
        return []
    transaction = read_transaction(base64.b64decode(result.record["type10"]), "released record")
    images = []
    for face in transaction.face_images:
        kind = sniff_format(face.data[:32]) or "jpeg"
        uri = f"data:image/{kind};base64," + base64.b64encode(face.data).decode()
        images.append({"uri": uri, "sha256": face.sha256, "agency": face.source_agency})
    return images


@router.post("/federated/confirm")
async def confirm(
    request: Request,
    caller: PostCallerDep,
    request_id: Annotated[str, Form(min_length=1, max_length=200)],
    reference: Annotated[str, Form(min_length=1, max_length=64)],
    note: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Step 2: the examiner's confirmation goes to the partner; its answer is shown."""
    service = federation_services(caller.state).exchanges
    confirmed = ConfirmRequest(request_id, reference, note)
    result = await run_in_threadpool(service.confirm, caller.context, confirmed)
    try:
        images = _released_images(result)
    except FacetrailError as error:  # checked by the service already; never a blank page
        images, result.reason = [], str(error)
    choices = await run_in_threadpool(_authorisations, caller)
    return page(
        request,
        "federated.html",
        caller,
        exchange=result,
        exchange_note=note,
        released_images=images,
        authorisations=choices,
    )


@router.get("/federated/releases")
def releases_page(request: Request, caller: CallerDep) -> Response:
    """Partners' step-2 requests awaiting this officer's decision (deadline shown)."""
    pending = federation_services(caller.state).exchanges.pending(caller.context)
    return page(request, "federated_releases.html", caller, pending=pending)


@router.post("/federated/releases/{exchange_id}")
def decide(
    request: Request,
    caller: PostCallerDep,
    exchange_id: RecordId,
    decision: Annotated[str, Form(pattern="^(release|refuse)$")],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Approve or refuse (with a reason) one queued release (audited)."""
    service = federation_services(caller.state).exchanges
    decided = service.decide(
        caller.context, exchange_id, release=decision == "release", reason=reason
    )
    message = (
        f"release request {decided.id} from {decided.partner} ({decided.reference}):"
        f" {decided.status}"
    )
    pending = service.pending(caller.context)
    return page(request, "federated_releases.html", caller, pending=pending, message=message)
