"""What every facetrail command module shares: consoles, common options, opening the app."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

import facetrail
from facetrail.config import Settings
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.facade import Facetrail

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

T = TypeVar("T")


# The options given before the command (`facetrail --home H --user U cmd`), set by the root
# callback for the invocation running in this context (thread / task), not a shared global.
_GLOBAL_OPTIONS: ContextVar[dict[str, Any] | None] = ContextVar(
    "facetrail_cli_options", default=None
)


def set_global_options(options: dict[str, Any]) -> None:
    """Record the root options of the invocation running now."""
    _GLOBAL_OPTIONS.set(dict(options))


def global_options() -> dict[str, Any]:
    """The root options of the invocation running now (empty outside one)."""
    return dict(_GLOBAL_OPTIONS.get() or {})


def resolved_home(home: Path | None) -> Path | None:
    """The command's --home, else the global --home (None: $FACETRAIL_HOME or ~/.facetrail)."""
    return home or global_options().get("home")


def open_app(home: Path | None, *, create: bool = False) -> Facetrail:
    """The application for the command's home; only writing commands create a new home."""
    settings: dict[str, Any] = {}
    user = global_options().get("user")
    if user:
        settings["user"] = user
    index_url = global_options().get("index_url")
    if index_url:
        settings["index_url"] = index_url
    return facetrail.open(resolved_home(home), create=create, **settings)


def upgrade_home(home: Path | None, user: str | None) -> list[str]:
    """Migrate the home's database to this facetrail's schema; returns the revisions."""
    settings = Settings(home=Path(home).expanduser(), user=user) if home else Settings(user=user)
    kernel = Kernel(settings, create=True, migrate=True)
    try:
        return sorted(kernel.database.current_revisions())
    finally:
        kernel.close()


def run_with_app(home: Path | None, action: Callable[[Facetrail], T], *, create: bool = False) -> T:
    """Run one service call on an opened application, closing it afterwards.

    `create`: the command writes, so a missing home is created (and migrated) first;
    read commands on a missing home fail with a message naming it.
    """
    application = open_app(home, create=create)
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
