"""The hostile corpus enrolled into a gallery holding good subjects, and what must hold after.

Shared by tests/hostile/test_hostile_enrolment.py and benchmarks/hostile.py: `good_people`
picks the good subjects, `snapshot` reads every table row and kept file, and `check`
compares two snapshots with the enrolment report and returns the problems found.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from facetrail.facade import Facetrail
from facetrail.services.naming import displayable
from facetrail.services.results import EnrolReport
from facetrail.store.models import Base
from tests.hostile.corpus import REFUSE, CorpusFile

# Tables whose existing rows change by design when photos are enrolled.
CHANGING_TABLES = {"index_state", "audit_head"}
# Tables an enrolment may add rows to (one subject, image, templates, audit entry per photo).
GROWING_TABLES = {"subjects", "images", "templates", "audit_entries"}
STATUSES = {"enrolled", "skipped", "failed"}


@dataclass
class Snapshot:
    """Every row of every table (by primary key, as a digest) and every kept photo file."""

    rows: dict[str, dict[tuple[Any, ...], str]] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)


def good_people(faces_dir: Path) -> dict[str, list[Path]]:
    """The deepface people with two or more photos: the first to enrol, the rest as probes."""
    people = {}
    for folder in sorted((faces_dir / "deepface").iterdir()):
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if len(photos) >= 2:
            people[folder.name] = photos
    return people


def snapshot(app: Facetrail) -> Snapshot:
    """Digest every row of every table, and list the files under the photo store."""
    taken = Snapshot()
    with app.database.reader() as session:
        for table in Base.metadata.sorted_tables:
            key = list(table.primary_key.columns)
            rows = session.execute(select(table).order_by(*key)).mappings().all()
            taken.rows[table.name] = {
                tuple(row[c.name] for c in key): hashlib.sha256(
                    repr(sorted(row.items())).encode()
                ).hexdigest()
                for row in rows
            }
    root = app.kernel.photos.root
    taken.files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return taken


def check(
    before: Snapshot,
    after: Snapshot,
    report: EnrolReport,
    corpus: list[CorpusFile],
    undetected_ceiling: int,
) -> tuple[list[str], Counter[tuple[str, str, str]]]:
    """Problems with the enrolment of the corpus (empty: all good), and the outcome table."""
    problems: list[str] = []
    items = {item.path: item for item in report.items}
    expected = {displayable(str(c.path)): c for c in corpus}
    missing = sorted(set(expected) - set(items))
    if missing:
        problems.append(f"{len(missing)} corpus files missing from the report: {missing[:5]}")
    if len(report.items) != len(items):
        problems.append("a file is in the report twice")
    odd = [i for i in report.items if i.status not in STATUSES or not (i.reason or i.image_id)]
    if odd:
        problems.append(f"{len(odd)} report items without a status and reason: {odd[:3]}")
    table: Counter[tuple[str, str, str]] = Counter()
    flips = 0
    for path, corpus_file in expected.items():
        item = items.get(path)
        status = item.status if item else "missing"
        table[(corpus_file.kind, corpus_file.verdict, status)] += 1
        if status == "enrolled" and corpus_file.verdict == REFUSE:
            if corpus_file.kind == "bitflip-jpeg":
                flips += 1
            else:
                problems.append(f"refuse file enrolled: {corpus_file.kind} {path!r}")
    if flips > undetected_ceiling:
        problems.append(f"{flips} damaged JPEG flips enrolled, over {undetected_ceiling}")
    enrolled = [i for i in report.items if i.status == "enrolled"]
    problems.extend(_store_problems(before, after, len(enrolled)))
    return problems, table


def _store_problems(before: Snapshot, after: Snapshot, enrolled: int) -> list[str]:
    """Existing rows and files untouched; new rows and files only for enrolled photos."""
    problems = []
    for name, rows in before.rows.items():
        if name in CHANGING_TABLES:
            continue
        changed = [key for key, digest in rows.items() if after.rows[name].get(key) != digest]
        if changed:
            problems.append(f"table {name}: {len(changed)} existing rows changed or lost")
        added = len(after.rows[name]) - len(rows)
        if added and name not in GROWING_TABLES:
            problems.append(f"table {name}: {added} rows added by an enrolment")
    new_images = len(after.rows["images"]) - len(before.rows["images"])
    if new_images != enrolled:
        problems.append(f"{new_images} image rows added for {enrolled} photos enrolled")
    new_audit = len(after.rows["audit_entries"]) - len(before.rows["audit_entries"])
    if new_audit != enrolled:
        problems.append(f"{new_audit} audit entries added for {enrolled} photos enrolled")
    lost = before.files - after.files
    if lost:
        problems.append(f"{len(lost)} kept photo files lost")
    new_files = after.files - before.files
    temp = [f for f in new_files if Path(f).name.startswith(".")]
    if temp:
        problems.append(f"temp files left behind: {temp[:3]}")
    if len(new_files) > enrolled:
        problems.append(f"{len(new_files)} photo files written for {enrolled} photos enrolled")
    return problems
