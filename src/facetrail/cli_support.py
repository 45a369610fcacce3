"""What every facetrail command module shares: consoles, common options, opening the app."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

import facetrail
from facetrail.errors import InvalidInputError
from facetrail.services.app import Facetrail

out = Console()
err = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="facetrail home folder (default $FACETRAIL_HOME or ~/.facetrail)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
PipelineOption = Annotated[
    str | None,
    typer.Option("--pipeline", help="pipeline spec, e.g. yunet+sface or yunet+sface|dlib"),
]

GLOBAL_OPTIONS: dict[str, Any] = {}
T = TypeVar("T")


def open_app(home: Path | None) -> Facetrail:
    """The application for the command's --home, else the global --home / environment."""
    settings: dict[str, Any] = {}
    if GLOBAL_OPTIONS.get("user"):
        settings["user"] = GLOBAL_OPTIONS["user"]
    return facetrail.open(home or GLOBAL_OPTIONS.get("home"), **settings)


def run_with_app(home: Path | None, action: Callable[[Facetrail], T]) -> T:
    """Run one service call on an opened application, closing it afterwards."""
    application = open_app(home)
    try:
        return action(application)
    finally:
        application.close()


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """Print a result as one line of JSON on stdout."""
    if isinstance(value, BaseModel):
        payload: Any = value.model_dump(mode="json")
    elif isinstance(value, list):
        payload = [item.model_dump(mode="json") for item in value]
    else:
        payload = value
    typer.echo(json.dumps(payload, ensure_ascii=False))


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


def parse_moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{option} must be YYYY-MM-DD[THH:MM], got {value!r}") from None
    return moment if moment.tzinfo else moment.astimezone()
