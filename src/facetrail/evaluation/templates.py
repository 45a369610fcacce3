"""Templates of evaluation images: one face per image, computed in parallel, cached on disk.

The cache lives under `$FACETRAIL_HOME/cache/templates/` and is keyed by the pipeline spec,
each model's version, the face selection rule, the flip option and each file's SHA-256,
so a second run of a protocol on the same images does not re-embed them. It holds the
templates of everyone in the evaluated set: use it for research data sets only (people
who gave their images for research), never for operational photos (`--no-cache`).
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer, PipelineSpec, mirror_face
from facetrail.errors import ImageError, InvalidInputError
from facetrail.media.images import load_image
from facetrail.store.files import private_dirs, write_atomic

Progress = Callable[[int, int], None]
CACHE_FORMAT = 1
CHUNK = 32  # images per worker task: large enough to amortise, small for a smooth bar
SAVE_EVERY = 512  # embedded images between cache saves, so an interrupted run resumes
SELECTION_CENTRE = "centre"
# Mirror of the YuNet landmark order under a horizontal flip: the subject's right eye
# becomes the left one, and the same for the mouth corners; the nose stays.


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """One face's templates per image (NaN rows where no face was found)."""

    paths: tuple[Path, ...]
    sha256: tuple[str, ...]
    found: np.ndarray  # bool, one per image
    templates: dict[str, np.ndarray]  # model name -> (images, dim) float32
    embedded: int  # images embedded in this run (the rest came from the cache)
    unreadable: dict[str, str]  # path -> why it could not be decoded

    def index(self) -> dict[Path, int]:
        """Image path -> row."""
        return {path: row for row, path in enumerate(self.paths)}


def nearest_centre(faces: list[Face], shape: tuple[int, ...]) -> Face | None:
    """The face whose box centre is nearest the image centre (LFW centres its subject)."""
    if not faces:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(
        faces,
        key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2,
    )


mirrored = mirror_face  # the evaluation's name for it


def embed_face(analyzer: FaceAnalyzer, pixels: np.ndarray, *, flip: bool) -> dict[str, np.ndarray]:
    """The templates of the face nearest the centre ({} when there is none).

    With `flip`, each model's template is the normalised mean of the image's and its
    mirror image's templates (a standard test-time augmentation).
    """
    face = nearest_centre(analyzer.detector.detect(pixels), pixels.shape)
    if face is None:
        return {}
    templates = dict(analyzer.embed(pixels, face).templates)
    if flip:
        flipped = np.ascontiguousarray(pixels[:, ::-1])
        other = analyzer.embed(flipped, mirrored(face, pixels.shape[1])).templates
        for model, vector in templates.items():
            mean = vector + other[model]
            templates[model] = (mean / np.linalg.norm(mean)).astype(np.float32)
    return templates


_WORKER: dict[str, FaceAnalyzer] = {}


def _worker_init(spec: str) -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own pool would oversubscribe
    _WORKER["analyzer"] = FaceAnalyzer.from_spec(spec).load()


def _embed_chunk(paths: list[str], flip: bool) -> list[dict[str, np.ndarray] | str]:
    """Templates per image of a chunk, or the reason an image could not be read."""
    analyzer = _WORKER["analyzer"]
    results: list[dict[str, np.ndarray] | str] = []
    for path in paths:
        try:
            image = load_image(Path(path))
        except ImageError as error:
            results.append(error.reason)
            continue
        results.append(embed_face(analyzer, image.pixels, flip=flip))
    return results


def cache_key(analyzer: FaceAnalyzer, *, flip: bool) -> str:
    """What a cached template depends on besides the file: pipeline, versions, options."""
    versions = ",".join(f"{name}={version}" for name, version in analyzer.model_versions.items())
    return f"v{CACHE_FORMAT}|{analyzer.spec}|{versions}|{SELECTION_CENTRE}|flip={flip}"


class TemplateCache:
    """Cached templates of one cache key: an .npz of SHA-256 -> per-model vectors."""

    def __init__(self, folder: Path, key: str, models: Sequence[str], label: str) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60]
        self.path = folder / f"{slug}-{digest}.npz"
        self.key = key
        self.models = tuple(models)
        self.entries: dict[str, dict[str, np.ndarray]] = {}
        self._dirty = False

    def load(self) -> TemplateCache:
        """Read the cache file if there is one (a damaged one is ignored and rewritten)."""
        if not self.path.is_file():
            return self
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("key") != self.key:
                    return self
                found = data["found"]
                vectors = {m: data[f"t{i}"] for i, m in enumerate(self.models)}
                for row, sha in enumerate(data["sha256"]):
                    self.entries[str(sha)] = (
                        {m: vectors[m][row] for m in self.models} if found[row] else {}
                    )
        except (OSError, ValueError, KeyError):
            self.entries.clear()
        return self

    def put(self, sha256: str, templates: dict[str, np.ndarray]) -> None:
        self.entries[sha256] = templates
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically (temp file, then rename)."""
        if not self._dirty or not self.entries:
            return
        private_dirs(self.path.parent)
        shas = sorted(self.entries)
        found = np.array([bool(self.entries[s]) for s in shas])
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps({"key": self.key, "models": list(self.models)})),
            "sha256": np.array(shas),
            "found": found,
        }
        for i, model in enumerate(self.models):
            dim = next((len(e[model]) for e in self.entries.values() if e), 0)
            block = np.full((len(shas), dim), np.nan, np.float32)
            for row, sha in enumerate(shas):
                if self.entries[sha]:
                    block[row] = self.entries[sha][model]
            arrays[f"t{i}"] = block
        write_npz(self.path, arrays)
        self._dirty = False


def forget_cached(folder: Path, sha256s: set[str]) -> int:
    """Remove the entries of these image hashes from every cache file in `folder`.

    Each file is rewritten atomically without them; returns how many entries went.
    """
    if not folder.is_dir():
        return 0
    removed = 0
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if "sha256" not in arrays:
            continue
        keep = np.array([str(s) not in sha256s for s in arrays["sha256"]], dtype=bool)
        if keep.all():
            continue
        removed += int((~keep).sum())
        rows = len(keep)
        kept = {
            name: (value[keep] if value.ndim and len(value) == rows else value)
            for name, value in arrays.items()
        }
        write_npz(path, kept)
    return removed


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an .npz atomically and privately (0600, temp file, rename)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    write_atomic(path, buffer.getvalue())


def _sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (InvalidInputError naming it if unreadable)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None


def default_workers() -> int:
    """Worker processes: one per core."""
    return max(1, os.cpu_count() or 1)


def compute_templates(
    paths: Sequence[Path],
    spec: str,
    *,
    cache_dir: Path | None,
    flip: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> TemplateSet:
    """Templates of the face nearest the centre of each image, from the cache when there.

    Unreadable images and images without a face get NaN rows (`found` False); the
    protocols count them as failures, never drop them silently.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    analyzer = FaceAnalyzer.from_spec(PipelineSpec.parse(spec))
    models = analyzer.model_names
    cache = (
        TemplateCache(cache_dir, cache_key(analyzer, flip=flip), models, str(analyzer.spec)).load()
        if cache_dir is not None
        else None
    )
    known: dict[str, dict[str, np.ndarray]] = dict(cache.entries) if cache else {}
    shas: list[str] = []
    missing: dict[str, str] = {}  # sha256 -> a path with that content
    for path in unique:
        sha = _sha256(path)
        shas.append(sha)
        if sha not in known:
            missing.setdefault(sha, str(path))
    todo = list(missing.items())
    total = len(todo)
    unreadable: dict[str, str] = {}
    if progress:
        progress(0, total)
    done = 0

    def record(chunk: list[tuple[str, str]], results: list[dict[str, np.ndarray] | str]) -> None:
        nonlocal done
        for (sha, path), result in zip(chunk, results, strict=True):
            if isinstance(result, str):  # unreadable: not cached, so a fixed file is retried
                known[sha] = {}
                unreadable[path] = result
                continue
            known[sha] = result
            if cache is not None:
                cache.put(sha, result)
        before, done = done, done + len(chunk)
        if cache is not None and done // SAVE_EVERY > before // SAVE_EVERY:
            cache.save()
        if progress:
            progress(done, total)

    chunks = [todo[i : i + CHUNK] for i in range(0, total, CHUNK)]
    jobs = [[path for _, path in chunk] for chunk in chunks]
    count = min(workers or default_workers(), max(1, len(chunks)))
    try:
        if chunks and count == 1:
            _worker_init(spec)
            for chunk, job in zip(chunks, jobs, strict=True):
                record(chunk, _embed_chunk(job, flip))
        elif chunks:
            # spawn, not fork: forking after OpenCV has started its threads can hang
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                count, mp_context=context, initializer=_worker_init, initargs=(spec,)
            ) as pool:
                results = pool.map(_embed_chunk, jobs, [flip] * len(jobs))
                for chunk, result in zip(chunks, results, strict=True):
                    record(chunk, result)
    finally:
        if cache is not None:
            cache.save()

    found = np.array([bool(known[sha]) for sha in shas], dtype=bool)
    templates: dict[str, np.ndarray] = {}
    for model in models:
        dim = next((len(known[s][model]) for s in shas if known[s]), 1)
        block = np.full((len(shas), dim), np.nan, np.float32)
        for row, sha in enumerate(shas):
            if known[sha]:
                block[row] = known[sha][model]
        templates[model] = block
    return TemplateSet(tuple(unique), tuple(shas), found, templates, total, unreadable)
