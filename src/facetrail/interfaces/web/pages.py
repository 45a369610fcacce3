"""Console pages (placeholder until the console lands)."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def sign_in() -> str:
    return "<!doctype html><title>facetrail</title><form method=post action=/login></form>"
