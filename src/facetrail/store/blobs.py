"""Keeping biometric files (photos, crops, reference images) on disk, content-addressed."""

from __future__ import annotations

from pathlib import Path

from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.files import remove_stale_temp_files, write_atomic


class PhotoStore:
    """Photo bytes under `root/<gallery id>/<sha[:2]>/<sha>.<format>`, sealed by `sealer`."""

    def __init__(self, root: Path, sealer: Sealer = PLAINTEXT) -> None:
        self.root = root
        self.sealer = sealer

    def path_for(self, gallery_id: int, sha256: str, image_format: str) -> Path:
        return self.root / str(gallery_id) / sha256[:2] / f"{sha256}.{image_format}"

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
        return self.sealer.unseal(Path(path).read_bytes(), f"photo {Path(path).name}")

    def clean_stale_temp_files(self, gallery_id: int) -> int:
        """Remove temp files a killed run left in the gallery's folder; returns how many."""
        return remove_stale_temp_files(self.root / str(gallery_id))

    def delete(self, path: str | Path | None) -> None:
        """Remove a stored file if it is there."""
        if path:
            Path(path).unlink(missing_ok=True)
