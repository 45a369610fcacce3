"""Keeping enrolled photos on disk, content-addressed, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from facetrail.services import crypto


class PhotoStore:
    """Photo bytes under `root/<gallery id>/<sha[:2]>/<sha>.<format>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, gallery_id: int, sha256: str, image_format: str) -> Path:
        return self.root / str(gallery_id) / sha256[:2] / f"{sha256}.{image_format}"

    def write(self, gallery_id: int, sha256: str, image_format: str, data: bytes) -> Path:
        """Write the bytes (sealed if a key is set; temp file + fsync + rename); return the path."""
        target = self.path_for(gallery_id, sha256, image_format)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(crypto.seal(data))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target

    def read(self, path: str | Path) -> bytes:
        """A stored photo's original bytes."""
        return crypto.unseal(Path(path).read_bytes(), f"photo {Path(path).name}")

    def delete(self, path: str | Path | None) -> None:
        """Remove a stored photo if it is there."""
        if path:
            Path(path).unlink(missing_ok=True)
