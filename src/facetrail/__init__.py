"""facetrail: accountable face identification.

import facetrail
app = facetrail.open("~/.facetrail")
app.enrol("photos/", gallery="custody", legal_basis="PACE 1984 s.64A")
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facetrail.version import __version__

__all__ = ["__version__", "open"]

if TYPE_CHECKING:
    from facetrail.facade import Facetrail

# Subpackages reachable as attributes after a plain `import facetrail`, loaded on first use
# (`facetrail.biometrics.pipeline.FaceAnalyzer...` works without importing the rest).
_SUBPACKAGES = frozenset(
    {
        "biometrics",
        "core",
        "evaluation",
        "index",
        "interfaces",
        "media",
        "security",
        "services",
        "store",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"facetrail.{name}")
    raise AttributeError(f"module 'facetrail' has no attribute {name!r}")


def open(home: str | Path | None = None, *, create: bool = True, **settings: Any) -> Facetrail:
    """Open the facetrail home at `home` (default $FACETRAIL_HOME); `create` makes a new one."""
    from facetrail.config import Settings
    from facetrail.facade import Facetrail

    if home is not None:
        settings["home"] = Path(home).expanduser()
    return Facetrail(Settings(**settings), create=create)
