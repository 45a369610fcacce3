"""Peak memory and time of enrolling the hostile corpus into a gallery of good subjects.

    PYTHONPATH=src:. python benchmarks/hostile.py [--database-url URL] [--tracemalloc]

Generates the >= 1,000-file corpus (tests/hostile/corpus.py, in a child process), enrols
the good deepface subjects, then the corpus as subject folders, and prints the
enrolment's time, the process's peak resident memory (models, decoders and all: VmHWM,
reset before the corpus enrolment, else ru_maxrss) against the 600 MB target, and with
--tracemalloc the peak of Python allocations during the enrolment.
Exits non-zero when a suite check fails. Not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile.corpus import CorpusFile, generate  # noqa: E402
from tests.hostile.enrolment_suite import check, good_people, snapshot  # noqa: E402
from tests.hostile.test_hostile_corpus import UNDETECTED_JPEG_FLIP_CEILING  # noqa: E402
from tests.integration.helpers import link_gallery  # noqa: E402

import facetrail  # noqa: E402

TARGET_PEAK_MB = 600.0


def _faces_dir() -> Path:
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    path = Path(configured) if configured else REPO.parent / "shared/data"
    if not (path / "faces").is_dir():
        sys.exit(f"face data not found at {path}: set FACETRAIL_TEST_DATA")
    return path / "faces"


def _peak_rss_mb() -> float:
    """This process's peak resident set so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS count (VmHWM) so it covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _window_peak_mb() -> float | None:
    """Peak resident set since `_reset_peak`, in MB (VmHWM), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _prepare(root: Path, faces: Path, settings: dict[str, str]) -> tuple[list[CorpusFile], float]:
    """The corpus, and a home whose gallery holds the good subjects (run in a child process)."""
    people = good_people(faces)
    app = facetrail.open(root / "home", create=True, **settings)
    try:
        folder = link_gallery(root / "good", {n: p[:1] for n, p in people.items()})
        app.enrol(folder, gallery="g", legal_basis="benchmark")
    finally:
        app.close()
    started = time.perf_counter()
    corpus = generate(root / "corpus", faces)
    return corpus, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the home")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slower)"
    )
    args = parser.parse_args()
    faces = _faces_dir()
    settings = {"database_url": args.database_url} if args.database_url else {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # The gallery of good subjects and the corpus are made by a child process, so this
        # process's memory is that of opening the home and enrolling the corpus only.
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=fork) as pool:
            corpus, generated = pool.submit(_prepare, root, faces, settings).result()
        app = facetrail.open(root / "home", **settings)
        try:
            app.analyzers.get(app.settings.pipeline)
            before = snapshot(app)
            rss_before = _peak_rss_mb()
            window = _reset_peak()
            if args.tracemalloc:
                tracemalloc.start()
            started = time.perf_counter()
            report = app.enrol(root / "corpus", gallery="g", legal_basis="benchmark")
            seconds = time.perf_counter() - started
            traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
            during = _window_peak_mb() if window else None
            tracemalloc.stop()
            problems, _ = check(before, snapshot(app), report, corpus, UNDETECTED_JPEG_FLIP_CEILING)
        finally:
            app.close()
    peak = during if during is not None else _peak_rss_mb()
    print(f"corpus: {len(corpus)} files (generated in {generated:.1f} s)")
    print(
        f"enrolment: {seconds:.1f} s ({len(corpus) / seconds:.0f} files/s): {report.enrolled}"
        f" enrolled, {report.skipped} skipped, {report.failed} failed"
    )
    verdict = "ok" if peak < TARGET_PEAK_MB else "OVER"
    print(
        f"peak resident memory while enrolling the corpus: {peak:.0f} MB"
        f" ({'VmHWM since reset' if during is not None else 'ru_maxrss'};"
        f" target < {TARGET_PEAK_MB:.0f} MB: {verdict})"
    )
    print(f"process peak (ru_maxrss, generation included): {_peak_rss_mb():.0f} MB;"
          f" with the home open and models loaded: {rss_before:.0f} MB")  # fmt: skip
    if traced is not None:
        print(f"peak Python allocations during the enrolment (tracemalloc): {traced:.0f} MB")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems or peak >= TARGET_PEAK_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
