"""Keeping biometric files (photos, crops, reference images) on disk, content-addressed.

Paths are stored relative to the home (`photos/1/ab/ab….jpg`), so a copied, moved or
restored home reads and deletes its own files, never another copy's.
"""

from __future__ import annotations

from pathlib import Path

from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.files import remove_stale_temp_files, write_atomic


class PhotoStore:
    """Photo bytes under `root/<gallery id>/<sha[:2]>/<sha>.<format>`, sealed by `sealer`."""

    def __init__(self, root: Path, sealer: Sealer = PLAINTEXT, home: Path | None = None) -> None:
        self.root = root
        self.sealer = sealer
        self.home = home if home is not None else root.parent

    def path_for(self, gallery_id: int, sha256: str, image_format: str) -> Path:
        return self.root / str(gallery_id) / sha256[:2] / f"{sha256}.{image_format}"

    def stored(self, path: str | Path) -> str:
        """How a file of this store is recorded: relative to the home when under it."""
        candidate = Path(path)
        if candidate.is_absolute():
            try:
                return candidate.relative_to(self.home).as_posix()
            except ValueError:
                return str(candidate)
        return candidate.as_posix()

    def resolve(self, path: str | Path) -> Path:
        """The file a recorded path names (relative paths are under this home)."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.home / candidate

    def write(self, gallery_id: int, sha256: str, image_format: str, data: bytes) -> Path:
        """Write the bytes (sealed if a key is set; temp file + fsync + rename); return the path."""
        target = self.path_for(gallery_id, sha256, image_format)
        if target.exists():
            return target
        write_atomic(target, self.sealer.seal(data))
        return target

    def write_at(self, path: Path, data: bytes) -> Path:
        """Write the bytes (sealed if a key is set) at a path of the caller's choosing."""
        write_atomic(path, self.sealer.seal(data))
        return path

    def read(self, path: str | Path) -> bytes:
        """A stored file's original bytes."""
        target = self.resolve(path)
        return self.sealer.unseal(target.read_bytes(), f"photo {target.name}")

    def clean_stale_temp_files(self, gallery_id: int) -> int:
        """Remove temp files a killed run left in the gallery's folder; returns how many."""
        return remove_stale_temp_files(self.root / str(gallery_id))

    def delete(self, path: str | Path | None) -> None:
        """Remove a stored file if it is there."""
        if path:
            self.resolve(path).unlink(missing_ok=True)
