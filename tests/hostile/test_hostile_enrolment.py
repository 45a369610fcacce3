"""The >= 1,000-file hostile corpus enrolled into a gallery of good subjects, SQLite and PostgreSQL.

Each corpus kind is a subject folder. Must hold: no exception, every file in the report
with a reason, no file the corpus marks "refuse" enrolled (damaged JPEG flips libjpeg
cannot see aside, under a measured ceiling), existing rows and photo files untouched and
new ones only for enrolled photos, the good subjects still found at rank 1, audit intact.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import facetrail
from tests.hostile.corpus import generate
from tests.hostile.enrolment_suite import check, good_people, snapshot
from tests.hostile.test_hostile_corpus import MIN_CORPUS_FILES, UNDETECTED_JPEG_FLIP_CEILING
from tests.integration.helpers import link_gallery

AUTH = {
    "purpose": "check the gallery after a hostile enrolment",
    "case": "OP-HOSTILE-1",
    "legal_basis": "test",
    "necessity": "test",
    "proportionality": "test",
    "officer": "R. Patel",
    "rank": "Superintendent",
}


@pytest.mark.slow
def test_the_hostile_corpus_enrols_cleanly_into_a_gallery_of_good_subjects(
    database_url: str, faces_dir: Path, tmp_path: Path
) -> None:
    people = good_people(faces_dir)
    app = facetrail.open(tmp_path / "home", database_url=database_url, create=True)
    try:
        good = app.enrol(
            link_gallery(tmp_path / "good", {n: p[:1] for n, p in people.items()}),
            gallery="g",
            legal_basis="test",
        )
        assert good.enrolled == len(people) >= 8
        corpus = generate(tmp_path / "corpus", faces_dir)
        assert len(corpus) >= MIN_CORPUS_FILES
        before = snapshot(app)
        started = time.perf_counter()
        report = app.enrol(tmp_path / "corpus", gallery="g", legal_basis="test")
        seconds = time.perf_counter() - started
        after = snapshot(app)

        problems, table = check(before, after, report, corpus, UNDETECTED_JPEG_FLIP_CEILING)
        for (kind, verdict, status), count in sorted(table.items()):
            print(f"{kind:18} {verdict:10} {status:8} {count}")
        print(
            f"{len(corpus)} files in {seconds:.1f} s: {report.enrolled} enrolled,"
            f" {report.skipped} skipped, {report.failed} failed"
        )
        assert not problems, problems

        auth = app.authorise(**AUTH, galleries=["g"]).id
        for person, photos in people.items():
            result = app.search(photos[1], gallery="g", authorisation=auth, top=3)
            assert result.faces and result.faces[0].candidates[0].subject == person
        assert app.verify_audit().ok
    finally:
        app.close()
