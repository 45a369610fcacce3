"""Reading evaluation data: LFW pairs files, folder-per-person sets, aliases, group labels."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from facetrail.errors import InvalidInputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".gif"})
LFW_NUMBER_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Pair:
    """One comparison of an LFW-format pairs file: two image paths, same person or not."""

    a: Path
    b: Path
    same: bool
    fold: int
    identity_a: str
    identity_b: str


@dataclass(frozen=True, slots=True)
class PairsFile:
    """A parsed pairs file: its pairs and its fold layout (folds x pairs per class)."""

    path: Path
    pairs: tuple[Pair, ...]
    folds: int
    per_class: int


def lfw_image_path(images: Path, name: str, number: str) -> Path:
    """`images/<name>/<name>_<NNNN>.jpg`, the LFW file naming."""
    try:
        index = int(number)
    except ValueError:
        raise InvalidInputError(f"image number {number!r} for {name!r} is not an integer") from None
    return images / name / f"{name}_{index:0{LFW_NUMBER_DIGITS}d}.jpg"


def _header(line: str, path: Path) -> tuple[int, int]:
    """(folds, pairs per class per fold) from an LFW header: 'N' or 'FOLDS N'."""
    fields = line.split()
    try:
        numbers = [int(f) for f in fields]
    except ValueError:
        numbers = []
    if len(numbers) == 1 and numbers[0] > 0:
        return 1, numbers[0]
    if len(numbers) == 2 and min(numbers) > 0:
        return numbers[0], numbers[1]
    raise InvalidInputError(
        f"{path}: the first line must be 'PAIRS' or 'FOLDS PAIRS' (LFW pairs format), "
        f"got {line.strip()!r}"
    )


def read_pairs(path: Path, images: Path) -> PairsFile:
    """Parse an LFW-format pairs file; each image path is checked to exist."""
    if not path.is_file():
        raise InvalidInputError(f"pairs file not found: {path}")
    if not images.is_dir():
        raise InvalidInputError(f"images folder not found: {images}")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise InvalidInputError(f"{path} is empty")
    folds, per_class = _header(lines[0], path)
    expected = folds * per_class * 2
    body = lines[1:]
    if len(body) != expected:
        raise InvalidInputError(
            f"{path}: header says {folds} fold(s) x {per_class} same + {per_class} different "
            f"pairs = {expected} lines, the file has {len(body)}"
        )
    pairs = []
    for number, line in enumerate(body, start=2):
        fields = line.split()
        fold = (number - 2) // (2 * per_class)
        if len(fields) == 3:
            name, i, j = fields
            a, b = lfw_image_path(images, name, i), lfw_image_path(images, name, j)
            pair = Pair(a, b, True, fold, name, name)
        elif len(fields) == 4:
            name_a, i, name_b, j = fields
            a, b = lfw_image_path(images, name_a, i), lfw_image_path(images, name_b, j)
            pair = Pair(a, b, False, fold, name_a, name_b)
        else:
            raise InvalidInputError(
                f"{path} line {number}: expected 'name i j' or 'name1 i name2 j', got {line!r}"
            )
        for image in (a, b):
            if not image.is_file():
                raise InvalidInputError(f"{path} line {number}: image not found: {image}")
        pairs.append(pair)
    return PairsFile(path=path, pairs=tuple(pairs), folds=folds, per_class=per_class)


def person_images(root: Path) -> dict[str, list[Path]]:
    """Person folder name -> sorted image paths, for a folder-per-person set."""
    if not root.is_dir():
        raise InvalidInputError(f"images folder not found: {root}")
    people = {
        folder.name: sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }
    people = {name: images for name, images in people.items() if images}
    if not people:
        raise InvalidInputError(
            f"{root} holds no person folders with images (expected DIR/<person>/<photo>)"
        )
    return people


def read_aliases(path: Path) -> dict[str, str]:
    """Name -> canonical name, from lines 'canonical,alias[,alias...]' (# starts a comment).

    LFW has label errors (one person under two names); merging them keeps a true match
    from counting as a false positive.
    """
    if not path.is_file():
        raise InvalidInputError(f"aliases file not found: {path}")
    aliases: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        names = [n.strip() for n in text.replace("\t", ",").split(",") if n.strip()]
        if len(names) < 2:
            raise InvalidInputError(
                f"{path} line {number}: expected 'canonical,alias[,alias...]', got {line!r}"
            )
        for alias in names[1:]:
            aliases[alias] = names[0]
    return aliases


def merge_aliases(
    people: Mapping[str, list[Path]], aliases: Mapping[str, str]
) -> dict[str, list[Path]]:
    """`people` with each alias's images moved under its canonical name."""
    merged: dict[str, list[Path]] = {}
    for name, images in people.items():
        merged.setdefault(aliases.get(name, name), []).extend(images)
    return {name: sorted(images) for name, images in sorted(merged.items())}


def read_groups(path: Path) -> dict[str, str]:
    """Identity -> group label from a CSV with columns `identity,group` (caller-supplied).

    facetrail never infers group labels; it only reports metrics for labels it is given.
    """
    if not path.is_file():
        raise InvalidInputError(f"groups file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"identity", "group"} <= set(reader.fieldnames):
            raise InvalidInputError(
                f"{path}: needs a header with columns 'identity' and 'group', got "
                f"{reader.fieldnames}"
            )
        groups = {}
        for number, row in enumerate(reader, start=2):
            identity, group = (row["identity"] or "").strip(), (row["group"] or "").strip()
            if not identity or not group:
                raise InvalidInputError(f"{path} line {number}: identity and group are required")
            groups[identity] = group
    if not groups:
        raise InvalidInputError(f"{path} lists no identities")
    return groups
