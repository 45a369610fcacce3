"""Mounting the console: its routes and its vendored static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    """Add the console pages (/) and its static files (/static) to the app."""
    from facetrail.interfaces.web.pages import install_pages

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_pages(app)
