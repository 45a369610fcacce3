"""Investigator pages: search a probe, see every face boxed, candidates vs threshold, outcome."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from PIL import Image

from facetrail.interfaces.api.uploads import read_image
from facetrail.interfaces.web.caller import CallerDep, PostCallerDep
from facetrail.interfaces.web.render import page
from facetrail.media.images import sniff_format
from facetrail.services.examination import OutcomeRequest
from facetrail.services.search import SearchRequest

router = APIRouter(include_in_schema=False)


def _choices(caller: CallerDep) -> dict[str, Any]:
    services, context = caller.state.services, caller.context
    authorisations = [
        a
        for a in services.authorisations.list(context)
        if a.revoked_at is None and a.kind in ("retrospective_search", "verification")
    ]
    return {"galleries": services.galleries.list(context), "authorisations": authorisations}


@router.get("/search")
def search_page(request: Request, caller: CallerDep) -> Response:
    """The search form."""
    caller.state.services.kernel.require(caller.context, "search")
    return page(request, "search.html", caller, **_choices(caller))


@router.post("/search")
async def search(
    request: Request,
    caller: PostCallerDep,
    probe: Annotated[UploadFile, File()],
    gallery: Annotated[str, Form(max_length=200)],
    authorisation: Annotated[int, Form(ge=1, le=2**62)],
    top: Annotated[int, Form(ge=1, le=200)] = 10,
) -> Response:
    """Run the search; show the probe with every face boxed and each face's candidates."""
    data = await read_image(probe, "probe")
    services = caller.state.services
    request_ = SearchRequest(data, gallery, authorisation, top)
    result = await caller.state.pool.run(lambda: services.search.search(caller.context, request_))
    caller.state.metrics.searches.labels("ok").inc()
    with Image.open(io.BytesIO(data)) as decoded:
        width, height = decoded.size
    # The probe goes back to the examiner's own browser only: never stored by the console.
    kind = sniff_format(data[:32]) or "jpeg"
    uri = f"data:image/{kind};base64," + base64.b64encode(data).decode()
    choices = await asyncio.to_thread(_choices, caller)
    return page(
        request,
        "search.html",
        caller,
        result=result,
        probe_uri=uri,
        width=width,
        height=height,
        **choices,
    )


@router.post("/search/outcome")
def record_outcome(
    request: Request,
    caller: PostCallerDep,
    search_audit_id: Annotated[int, Form(ge=1, le=2**62)],
    outcome: Annotated[str, Form(max_length=50)],
    note: Annotated[str, Form(max_length=4000)],
    subject: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record the examiner's outcome of the search (audited)."""
    services = caller.state.services
    recorded = services.examinations.record(
        caller.context, OutcomeRequest(search_audit_id, outcome, note, subject or None)
    )
    message = f"outcome recorded for search {recorded.search_audit_id}: {recorded.outcome}"
    return page(request, "search.html", caller, message=message, **_choices(caller))


@router.get("/search/photo/{gallery}/{image_id}")
def candidate_photo(caller: CallerDep, gallery: str, image_id: int) -> Response:
    """A candidate's enrolled photo, for the side-by-side comparison (audited)."""
    data = caller.state.services.subjects.photo(caller.context, gallery, image_id)
    kind = sniff_format(data[:32]) or "jpeg"
    return Response(data, media_type=f"image/{kind}", headers={"Cache-Control": "no-store"})
