"""What every facetrail command module shares: consoles, common options, opening the app."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

import facetrail
from facetrail.biometrics.finite import require_finite
from facetrail.config import Settings
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError, NonFiniteValueError
from facetrail.facade import Facetrail

# Characters never written to the terminal as they are: controls (escape sequences, carriage
# returns), invisible format characters (zero-width, bidi overrides), separators, and lone
# surrogates (bytes of a file name that were not UTF-8).
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
SURROGATE_ESCAPES = range(0xDC80, 0xDD00)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` safe for a terminal: every control, invisible or non-UTF-8 character escaped.

    Escapes read like Python's (`\\x1b`, `\\u202e`); a byte that was not UTF-8 (a surrogate
    escape from the file system) shows as that byte, `\\xe9`.
    """
    if text.isprintable():
        return text
    pieces = []
    for ch in text:
        code = ord(ch)
        if ch == "\n" and keep_newlines:
            pieces.append(ch)
        elif code in SURROGATE_ESCAPES:
            pieces.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in UNPRINTABLE_CATEGORIES:
            pieces.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            pieces.append(ch)
    return "".join(pieces)


def shown(value: object) -> str:
    """A user-supplied value (a name, a path) for a message line: escaped, newlines too."""
    return printable(str(value))


class SafeConsole(Console):
    """A Rich console that prints every string literally: no markup, no emoji codes, and
    control characters escaped, so names and file names can never style or drive the
    terminal. Styling is given explicitly (`style=`, `notice`), never inside the text."""

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, emoji=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:  # type: ignore[override]
        """The text as a literal Text (markup and emoji off), control characters escaped."""
        options["markup"], options["emoji"] = False, False
        return super().render_str(printable(text, keep_newlines=True), **options)


def notice(label: str, style: str, message: str) -> Text:
    """`label` styled (e.g. "warning:" in yellow) then `message`, printed literally."""
    return Text.assemble((label, style), " ", printable(message, keep_newlines=True))


out = SafeConsole()
err = SafeConsole(stderr=True)

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


def removed_line(removed: dict[str, int]) -> str:
    """What an erasure removed, by kind, as one line ("" when nothing was)."""
    parts = [f"{k.replace('_', ' ')} {n}" for k, n in sorted(removed.items()) if n]
    return f"removed: {', '.join(parts)}" if parts else ""


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """Print a result as one line of JSON on stdout."""
    if isinstance(value, BaseModel):
        payload: Any = value.model_dump(mode="json")
    elif isinstance(value, list):
        payload = [item.model_dump(mode="json") for item in value]
    else:
        payload = value
    typer.echo(json_line(payload))


def json_line(payload: Any) -> str:
    """One line of strict JSON: NaN or infinity is refused (it is not JSON), never printed.

    Strings holding bytes that were not UTF-8 are written with ASCII escapes instead.
    """
    require_finite(payload, "the --json output")
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    except ValueError as error:  # a float subclass or object the walk did not see
        raise NonFiniteValueError(f"the --json output is not valid JSON: {error}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, ensure_ascii=True, allow_nan=False)
    return text


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
