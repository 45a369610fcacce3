"""facetrail: accountable face identification.

import facetrail
app = facetrail.open("~/.facetrail")
app.enrol(EnrolRequest(Path("photos/"), gallery="custody"))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from facetrail.services.app import Facetrail


def open(home: str | Path | None = None, **settings: Any) -> Facetrail:
    """Open (creating if needed) the facetrail home at `home` (default $FACETRAIL_HOME)."""
    from facetrail.config import Settings
    from facetrail.services.app import Facetrail

    if home is not None:
        settings["home"] = Path(home).expanduser()
    return Facetrail(Settings(**settings))
