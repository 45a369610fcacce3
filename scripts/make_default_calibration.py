"""Measure the packaged calibration on LFW pairsDevTrain and write biometrics/data/calibration.json.

Usage: python scripts/make_default_calibration.py [--data DIR] [--workers 2] [--cache FILE]

For every image in pairsDevTrain.txt: detect (YuNet and dlib HOG), keep the face nearest
the image centre, embed it (SFace and dlib for YuNet faces, dlib for HOG faces). Then per
pipeline: genuine scores = the 1,100 same pairs; impostor scores = every pair of these
images showing different names (millions; their mean/std normalise scores for fusion and
give the FMR thresholds); fusion weights = grid search maximising pair accuracy; the
verification threshold = the one maximising accuracy on the 2,200 pairs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from facetrail.biometrics.calibration import (
    accuracy_at,
    best_accuracy_threshold,
    kfold_accuracy,
    threshold_at_fmr,
)
from facetrail.biometrics.detector import HogDetector, YuNetDetector
from facetrail.biometrics.recognizer import DlibRecognizer, SFaceRecognizer
from facetrail.evaluation.templates import nearest_centre

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "src" / "facetrail" / "biometrics" / "data" / "calibration.json"
DATASET = "lfw-dev pairsDevTrain.txt"
FMRS = ("1e-2", "1e-3", "1e-4")
FUSION_WEIGHT_STEP = 0.05
# (pipeline spec, detector, recognizers): the embeddings each needs, keyed "det/model".
PIPELINES = {
    "yunet+sface": ("yunet", ("sface",)),
    "yunet+dlib": ("yunet", ("dlib",)),
    "yunet+sface|dlib": ("yunet", ("sface", "dlib")),
    "hog+dlib": ("hog", ("dlib",)),
}
VERSIONS = {"sface": SFaceRecognizer.version, "dlib": DlibRecognizer.version}


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """(image a, image b, same person) for each pair in an LFW pairs file."""
    pairs = []
    for line in path.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            name, a, b = parts
            pairs.append(
                (f"{name}/{name}_{int(a):04d}.jpg", f"{name}/{name}_{int(b):04d}.jpg", True)
            )
        elif len(parts) == 4:
            n1, a, n2, b = parts
            pairs.append((f"{n1}/{n1}_{int(a):04d}.jpg", f"{n2}/{n2}_{int(b):04d}.jpg", False))
    return pairs


_WORKER: dict[str, object] = {}


def _embed_chunk(paths: list[str]) -> dict[str, np.ndarray]:
    """Embeddings of `paths` for every detector/model combination (NaN when no face)."""
    cv2.setNumThreads(1)
    if not _WORKER:
        _WORKER.update(
            yunet=YuNetDetector(), hog=HogDetector(), sface=SFaceRecognizer(), dlib=DlibRecognizer()
        )
    out = {
        k: np.full((len(paths), 128), np.nan, np.float32)
        for k in ("yunet/sface", "yunet/dlib", "hog/dlib")
    }
    for i, path in enumerate(paths):
        image = cv2.imread(path)
        for det, models in (("yunet", ("sface", "dlib")), ("hog", ("dlib",))):
            face = nearest_centre(_WORKER[det].detect(image), image.shape)  # type: ignore[attr-defined]
            if face is not None:
                for model in models:
                    out[f"{det}/{model}"][i] = _WORKER[model].embed(image, face)  # type: ignore[attr-defined]
    return out


def embed_all(root: Path, names: list[str], workers: int) -> dict[str, np.ndarray]:
    """Embeddings of every image, computed in `workers` processes."""
    chunks = [names[i : i + 50] for i in range(0, len(names), 50)]
    results: dict[str, list[np.ndarray]] = {}
    with ProcessPoolExecutor(workers) as pool:
        for done, part in enumerate(
            pool.map(_embed_chunk, [[str(root / n) for n in c] for c in chunks])
        ):
            for key, value in part.items():
                results.setdefault(key, []).append(value)
            print(f"\r{(done + 1) * 50}/{len(names)} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {k: np.concatenate(v) for k, v in results.items()}


def impostor_scores(vectors: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """Cosine scores of every image pair with different identities (both embedded)."""
    ok = ~np.isnan(vectors[:, 0])
    v, ids = vectors[ok], identities[ok]
    sims = v @ v.T
    upper = np.triu(np.ones(sims.shape, dtype=bool), k=1) & (ids[:, None] != ids[None, :])
    return sims[upper]


def pair_scores(vectors: np.ndarray, index: dict[str, int], pairs: list) -> np.ndarray:
    """Cosine score per pair; -1 (a sure "different") where either image had no face."""
    a = vectors[[index[p[0]] for p in pairs]]
    b = vectors[[index[p[1]] for p in pairs]]
    return np.nan_to_num(np.einsum("ij,ij->i", a, b), nan=-1.0)


def main() -> None:
    """Measure and write the calibration JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "faces" / "lfw-dev"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, help="npz file to keep embeddings between runs")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    pairs = read_pairs(args.data / "pairsDevTrain.txt")
    names = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    index = {n: i for i, n in enumerate(names)}
    identities = np.array([n.split("/")[0] for n in names])
    same = np.array([p[2] for p in pairs])

    started = time.perf_counter()
    if args.cache and args.cache.exists():
        embeddings = dict(np.load(args.cache))
    else:
        embeddings = embed_all(args.data, names, args.workers)
        if args.cache:
            np.savez(args.cache, **embeddings)
    print(f"embedded {len(names)} images in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    stats: dict[str, dict] = {}
    for key, vectors in embeddings.items():
        genuine_impostor = pair_scores(vectors, index, pairs)
        impostors = impostor_scores(vectors, identities)
        stats[key] = {
            "pairs": genuine_impostor,
            "impostors": impostors,
            "missed": int(np.isnan(vectors[:, 0]).sum()),
            "impostor_mean": float(impostors.mean()),
            "impostor_std": float(impostors.std()),
            "genuine_mean": float(genuine_impostor[same].mean()),
            "genuine_std": float(genuine_impostor[same].std()),
        }

    today = dt.date.today().isoformat()
    out: dict = {
        "about": "Decision thresholds and fusion parameters per pipeline, measured by "
        "scripts/make_default_calibration.py; scores are cosines (one recognizer) or "
        "weighted sums of impostor z-scores (fusion); 'same person' means score >= threshold.",
        "pipelines": {},
    }
    for spec, (det, models) in PIPELINES.items():
        keys = [f"{det}/{m}" for m in models]
        if len(models) == 1:
            weights = {models[0]: 1.0}
        else:  # grid over the first model's weight; the rest share what is left equally
            best = (-1.0, 0.0)
            for w in np.arange(0, 1 + 1e-9, FUSION_WEIGHT_STEP):
                ws = [w] + [(1 - w) / (len(models) - 1)] * (len(models) - 1)
                fused = sum(
                    wi * (stats[k]["pairs"] - stats[k]["impostor_mean"]) / stats[k]["impostor_std"]
                    for wi, k in zip(ws, keys, strict=True)
                )
                acc = best_accuracy_threshold(fused[same], fused[~same])[1]
                if acc > best[0] + 1e-12:
                    best = (acc, float(w))
            w0 = round(best[1], 4)
            weights = {
                models[0]: w0,
                **{m: round((1 - w0) / (len(models) - 1), 4) for m in models[1:]},
            }

        def combine(name: str, ws: dict = weights, ks: list = keys) -> np.ndarray:
            if len(ks) == 1:
                return stats[ks[0]][name]
            return sum(
                ws[k.split("/")[1]]
                * (stats[k][name] - stats[k]["impostor_mean"])
                / stats[k]["impostor_std"]
                for k in ks
            )

        scores = combine("pairs")
        if len(keys) == 1:
            impostors = stats[keys[0]]["impostors"]
        else:  # fused impostor scores need every model's score for the same image pair
            ok = np.all([~np.isnan(embeddings[k][:, 0]) for k in keys], axis=0)
            upper = np.triu(np.ones((ok.sum(),) * 2, bool), 1) & (
                identities[ok][:, None] != identities[ok][None, :]
            )
            impostors = sum(
                weights[k.split("/")[1]]
                * ((embeddings[k][ok] @ embeddings[k][ok].T)[upper] - stats[k]["impostor_mean"])
                / stats[k]["impostor_std"]
                for k in keys
            )
        threshold, _ = best_accuracy_threshold(scores[same], scores[~same])
        mean_acc, std_acc, _ = kfold_accuracy(scores, same)
        out["pipelines"][spec] = {
            "threshold": round(threshold, 6),
            "score_kind": "cosine" if len(keys) == 1 else "fused-z",
            "models": {
                k.split("/")[1]: {
                    "version": VERSIONS[k.split("/")[1]],
                    "weight": weights[k.split("/")[1]],
                    **{
                        s: round(stats[k][s], 6)
                        for s in ("impostor_mean", "impostor_std", "genuine_mean", "genuine_std")
                    },
                }
                for k in keys
            },
            "fmr_thresholds": {f: round(threshold_at_fmr(impostors, float(f)), 6) for f in FMRS},
            "dataset": DATASET,
            "measured_at": today,
            "method": (
                "face nearest the image centre per image; threshold maximises accuracy on the "
                "1,100 same + 1,100 different pairs (a missed face scores as 'different'); "
                "impostor mean/std and FMR thresholds over all pairs of these images with "
                "different names; fusion weights by grid search (step 0.05) on pair accuracy"
            ),
            "results": {
                "accuracy_at_threshold": round(
                    accuracy_at(scores[same], scores[~same], threshold), 5
                ),
                "accuracy_10fold_mean": round(mean_acc, 5),
                "accuracy_10fold_std": round(std_acc, 5),
                "images": len(names),
                "images_without_face": max(stats[k]["missed"] for k in keys),
                "impostor_comparisons": int(impostors.size),
            },
        }
        print(
            spec,
            json.dumps(out["pipelines"][spec]["results"]),
            "threshold",
            round(threshold, 4),
            file=sys.stderr,
        )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(args.output)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
