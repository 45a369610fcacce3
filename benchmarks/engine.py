"""Engine speed on real photos: detection, embedding, and photos/s end to end (1 vs 2 threads).

Usage: python benchmarks/engine.py [--data ../shared/data/faces] [--photos 400]
Prints figures and ratios measured in this run; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from facetrail.biometrics.detector import HogDetector, YuNetDetector
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.recognizer import DlibRecognizer, SFaceRecognizer
from facetrail.config import DEFAULT_PIPELINE

REPO = Path(__file__).resolve().parent.parent
PIPELINES = ("yunet+sface", "yunet+sface+flip", "yunet+sface|dlib", "yunet+sface|dlib+flip")
PIPELINE_PHOTOS = 20  # LFW photos timed end to end per pipeline


def ms_per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of `fn` over `repeat` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def frame_640x480(image: np.ndarray) -> np.ndarray:
    """`image` fitted into a 640x480 frame (letterboxed), like a camera frame."""
    scale = min(640 / image.shape[1], 480 / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[: small.shape[0], : small.shape[1]] = small
    return frame


def photos_per_second(paths: list[Path], threads: int, reduced: bool = False) -> float:
    """Photos/s for decode + detect + embed the largest face, with `threads` threads."""
    flag = cv2.IMREAD_REDUCED_COLOR_2 if reduced else cv2.IMREAD_COLOR

    def work(chunk: list[Path]) -> int:
        analyzer = FaceAnalyzer.from_spec(DEFAULT_PIPELINE).load()  # one per thread
        done = 0
        for path in chunk:
            image = cv2.imread(str(path), flag)
            faces = analyzer.detector.detect(image)
            if faces:
                analyzer.embed(image, faces[0])
            done += 1
        return done

    chunks = [paths[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(work, chunks))
    return total / (time.perf_counter() - start)


def main() -> None:
    """Run and print every measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    parser.add_argument("--photos", type=int, default=400, help="LFW photos for photos/s")
    args = parser.parse_args()
    big = sorted((args.data / "deepface").glob("*/*.jpg"))
    lfw = sorted((args.data / "lfw-dev").glob("*/*.jpg"))[: args.photos]
    print(f"cv2 {cv2.__version__}, cv2 threads {cv2.getNumThreads()}")

    frames = [frame_640x480(cv2.imread(str(p))) for p in big[:20]]
    yunet, hog = YuNetDetector(), HogDetector()
    for name, det in (("yunet", yunet), ("hog", hog)):
        ms = statistics.median(ms_per_call(lambda f=f, d=det: d.detect(f), 3) for f in frames)
        print(f"detection {name}: {ms:.1f} ms per 640x480 frame")

    image = cv2.imread(str(args.data / "face_recognition/Barack_Obama/obama.jpg"))
    face = yunet.detect(image)[0]
    sface, dlib_ = SFaceRecognizer(), DlibRecognizer()
    sface_ms = ms_per_call(lambda: sface.embed(image, face), 20)
    dlib_ms = ms_per_call(lambda: dlib_.embed(image, face), 10)
    print(
        f"embedding sface: {sface_ms:.1f} ms/face; dlib: {dlib_ms:.1f} ms/face "
        f"(dlib/sface {dlib_ms / sface_ms:.1f}x)"
    )

    # Each pipeline end to end on one LFW photo (decoded): detection with its retries, then
    # every recognizer's template; "+flip" embeds the mirror image too (twice the recognizers).
    photos = [cv2.imread(str(p)) for p in lfw[:PIPELINE_PHOTOS]]
    baseline = None
    for spec in PIPELINES:
        analyzer = FaceAnalyzer.from_spec(spec).load()
        ms = statistics.median(
            ms_per_call(lambda p=p, a=analyzer: a.analyze_largest(p), 2) for p in photos
        )
        baseline = baseline or ms
        print(f"pipeline {spec}: {ms:.1f} ms per LFW photo ({ms / baseline:.1f}x {PIPELINES[0]})")

    print("YuNet max side sweep on deepface photos (0.2-5 MP):")
    images = [cv2.imread(str(p)) for p in big]
    images = [i for i in images if i is not None]
    for side in (480, 640, 960, 1280, 10_000):
        det = YuNetDetector(max_side=side)
        start = time.perf_counter()
        found = sum(bool(det.detect(i)) for i in images)
        ms = (time.perf_counter() - start) * 1000 / len(images)
        print(f"  max_side {side:>5}: {ms:6.1f} ms/photo, face found in {found}/{len(images)}")

    decode_ms = statistics.median(ms_per_call(lambda p=p: cv2.imread(str(p)), 1) for p in big)
    reduced_ms = statistics.median(
        ms_per_call(lambda p=p: cv2.imread(str(p), cv2.IMREAD_REDUCED_COLOR_2), 1) for p in big
    )
    print(f"JPEG decode of deepface photos: {decode_ms:.1f} ms full, {reduced_ms:.1f} ms at 1/2")

    for label, paths, reduced in (
        ("LFW 250x250", lfw, False),
        ("deepface 0.2-5 MP", big, False),
        ("deepface, decoded at 1/2", big, True),
    ):
        results = {}
        for cv_threads in (1, 0):  # 0: let OpenCV pick (all cores)
            cv2.setNumThreads(cv_threads if cv_threads else -1)
            for threads in (1, 2):
                results[(cv_threads, threads)] = photos_per_second(paths, threads, reduced)
        cv2.setNumThreads(-1)
        for (cv_threads, threads), rate in results.items():
            print(
                f"{label}: {rate:6.1f} photos/s with {threads} worker thread(s), "
                f"cv2.setNumThreads({cv_threads or 'default'})"
            )
        print(
            f"{label}: 2 threads vs 1 (cv2 1 thread each): "
            f"{results[(1, 2)] / results[(1, 1)]:.2f}x; "
            f"best vs 40 photos/s target: {max(results.values()) / 40:.2f}x"
        )


if __name__ == "__main__":
    main()
