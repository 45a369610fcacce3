"""facetrail.records sits at the media layer: it imports errors, media and itself only."""

from __future__ import annotations

import ast
from pathlib import Path

import facetrail.records

ALLOWED = ("facetrail.errors", "facetrail.media", "facetrail.records")


def test_records_imports_only_lower_layers() -> None:
    folder = Path(facetrail.records.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("facetrail"):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
