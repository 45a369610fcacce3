"""Building galleries and probe sets from the shared real-face folders (by symlink)."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".gif"}


def person_images(root: Path) -> dict[str, list[Path]]:
    """Person folder name -> sorted photo paths, for a folder-per-person set."""
    return {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }


def link_gallery(target: Path, people: dict[str, list[Path]]) -> Path:
    """A folder of subject folders holding symlinks to the given photos (nothing copied)."""
    for person, images in people.items():
        folder = target / person
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            (folder / image.name).symlink_to(image)
    return target


def split_gallery_and_probes(
    people: dict[str, list[Path]], enrol_per_person: int = 1
) -> tuple[dict[str, list[Path]], list[tuple[str, Path]]]:
    """First photos of each person to enrol; the rest as (person, probe) pairs."""
    gallery = {p: images[:enrol_per_person] for p, images in people.items() if images}
    probes = [(p, image) for p, images in people.items() for image in images[enrol_per_person:]]
    return gallery, probes
