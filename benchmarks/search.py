"""Search benchmark: exact vs compressed FaissIndex variants on synthetic face templates.

Usage: python benchmarks/search.py [--sizes 100000 1000000] [--queries 1000]
       python benchmarks/search.py --app [--sizes 100000 1000000] [--kinds exact compressed milvus]

`--app` measures the app's own search path instead of bare indexes: a SQLite home, the
gallery bulk-loaded (index/bulk.py: synthetic templates straight into the database), then
for each index kind (exact, compressed, milvus on a `milvus-lite server` started on a free
loopback port) the index is built by the catalogue from the database (`index rebuild`'s
path) and every probe goes through services/matching.rank_subjects_batch: index store,
exact re-ranking (FAISS: from the index's own vectors or the compressed kind's
re-ranking store; Milvus: from the database), metadata of the candidates, grouping by
subject. Per kind it prints build time, index bytes per template in the heap and in the
memory-mapped re-ranking store, p50/p99 wall-clock latency of one probe (top `--top`
subjects), its CPU time, the catalogue slot's search alone, batched throughput, rank-1
and top-`--top` mate recall, their ratios to exact, and how often rank-1 / the top-10
subject set equal exact's. Without `exact` in `--kinds` (10M: no room for a Flat copy)
the baseline is exact search by chunked matmul over the same vectors in the same run.

Data: a Gaussian mixture on the unit sphere, so the gallery has the cluster structure of
real embeddings (uniform random vectors are unrealistically hard for IVF): each template
is normalise(w * centre + N(0, I/dim)) with `--clusters` random unit centres and weight
`--cluster-weight` (0.5 gives cosine about 0.2 within a cluster, 0 +- 0.09 across).
Probes are noisy mates of random gallery entries with cosine to their mate drawn
uniformly in [0.60, 0.75], like real same-person pairs. `--clusters 0` gives uniform data.

Per variant it prints build/train time, index bytes per vector (serialised size),
single-query latency p50/p99 (ms, one FAISS thread, through FaissIndex.search with k=50),
batch throughput (queries/s, two threads), recall of the true mate at rank 1 and in the
top 50, agreement of top-1 with exact search, and ratios against exact measured in the
same run. Target: at 1M, p50 < 10 ms with mate recall >= 99% of exact.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facetrail.index.faiss_index import FaissIndex

DIM = 128
TOP_K = 50
MATE_COS_RANGE = (0.60, 0.75)
TARGET_SIZE = 1_000_000
TARGET_P50_MS = 10.0
TARGET_RECALL_RATIO = 0.99
DEFAULT_VARIANTS = [
    "SQ8",
    "PQ32x4fs,Refine(SQ8)",
    "PQ32x4fs,Refine(Flat)",
    "IVF1024,SQ8@64,256",
    "IVF4096,SQ8@256,512",
]
GEN_CHUNK = 200_000
BISECTION_STEPS = 30


@dataclass
class Result:
    """Figures for one index variant at one gallery size."""

    name: str
    build_s: float
    bytes_per_vector: float
    p50_ms: float
    p99_ms: float
    qps: float
    rank1: float
    top50: float
    agree: float


def unit_rows(x: np.ndarray) -> np.ndarray:
    """x with every row scaled to unit L2 norm, in place."""
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


@dataclass
class Gallery:
    """Unit templates with the mixture parts they were built from."""

    vectors: np.ndarray  # (n, dim) unit rows: normalise(centres[labels] + g)
    centres: np.ndarray  # (clusters, dim), already scaled by the cluster weight
    labels: np.ndarray  # (n,) cluster of each row
    norms: np.ndarray  # (n,) |centres[label] + g| before normalising


def make_gallery(n: int, dim: int, clusters: int, weight: float, seed: int) -> Gallery:
    """n unit templates from a Gaussian mixture (uniform on the sphere if clusters == 0)."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.standard_normal((max(clusters, 1), dim), dtype=np.float32))
    centres *= weight if clusters > 0 else 0.0
    labels = rng.integers(0, len(centres), n)
    out = np.empty((n, dim), dtype=np.float32)
    norms = np.empty(n, dtype=np.float32)
    for lo in range(0, n, GEN_CHUNK):
        hi = min(n, lo + GEN_CHUNK)
        block = rng.standard_normal((hi - lo, dim), dtype=np.float32) / np.sqrt(dim)
        block += centres[labels[lo:hi]]
        norms[lo:hi] = np.linalg.norm(block, axis=1)
        out[lo:hi] = block / norms[lo:hi, None]
    return Gallery(out, centres, labels, norms)


def _orthogonal_unit(rng: np.random.Generator, v: np.ndarray) -> np.ndarray:
    """Random unit rows orthogonal to the matching rows of v."""
    e = rng.standard_normal(v.shape, dtype=np.float32)
    vu = v / np.linalg.norm(v, axis=1, keepdims=True)
    e -= (e * vu).sum(axis=1, keepdims=True) * vu
    return unit_rows(e)


def make_probes(gallery: Gallery, n: int, seed: int, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """n noisy mates of random gallery rows: (probes, mate row ids).

    noise "identity": the probe keeps its mate's cluster part and blends the identity
    part g with an equal-norm random direction, as a second photo of the same person
    keeps the demographic traits; "isotropic": noise in any direction (worst case).
    The blend is solved per probe so the probe-mate cosine hits a target drawn from
    MATE_COS_RANGE.
    """
    rng = np.random.default_rng(seed + 1)
    mates = rng.choice(len(gallery.vectors), n, replace=False).astype(np.int64)
    target = rng.uniform(*MATE_COS_RANGE, size=n).astype(np.float32)
    t = gallery.vectors[mates]
    if noise == "isotropic":
        base = np.zeros_like(t)
        g = t
    else:
        base = gallery.centres[gallery.labels[mates]]
        g = gallery.norms[mates, None] * t - base
    e = _orthogonal_unit(rng, g) * np.linalg.norm(g, axis=1, keepdims=True)
    lo: np.ndarray = np.zeros(n, np.float32)
    hi: np.ndarray = np.ones(n, np.float32)
    for _ in range(BISECTION_STEPS):  # the cosine grows with the blend weight a
        a = (lo + hi) / 2
        p = unit_rows(base + a[:, None] * g + np.sqrt(1 - a**2)[:, None] * e)
        low = (p * t).sum(axis=1) < target
        lo, hi = np.where(low, a, lo), np.where(low, hi, a)
    return p.astype(np.float32), mates


def measure(
    name: str,
    index: FaissIndex,
    build_s: float,
    probes: np.ndarray,
    mates: np.ndarray,
    exact_top1: np.ndarray | None,
    latency_queries: int,
) -> tuple[Result, np.ndarray]:
    """Latency, throughput and recall of one built index; also returns its top-1 ids."""
    n_bytes = index.nbytes()
    times = np.empty(latency_queries)
    for i in range(latency_queries):
        q = probes[i : i + 1]
        t0 = time.perf_counter()
        index.search(q, TOP_K)
        times[i] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, found = index.search(probes, TOP_K)
    batch_s = time.perf_counter() - t0
    top1 = found[:, 0]
    agree = float(np.mean(top1 == exact_top1)) if exact_top1 is not None else 1.0
    result = Result(
        name=name,
        build_s=build_s,
        bytes_per_vector=n_bytes / len(index),
        p50_ms=float(np.percentile(times, 50) * 1e3),
        p99_ms=float(np.percentile(times, 99) * 1e3),
        qps=len(probes) / batch_s,
        rank1=float(np.mean(top1 == mates)),
        top50=float(np.mean((found == mates[:, None]).any(axis=1))),
        agree=agree,
    )
    return result, top1


def parse_variant(spec: str) -> tuple[str, list[int | None]]:
    """'IVF1024,SQ8@8,16' -> ('IVF1024,SQ8', [8, 16]); 'SQ8' -> ('SQ8', [None])."""
    factory, _, probes = spec.partition("@")
    return factory, [int(p) for p in probes.split(",")] if probes else [None]


def print_table(size: int, results: list[Result]) -> None:
    """Print one size's results with ratios against the first (exact) row."""
    base = results[0]
    print(
        f"\n== gallery {size:,} x {DIM}-d ==\n"
        f"{'variant':<22}{'build s':>8}{'B/vec':>7}{'p50 ms':>8}{'p99 ms':>8}{'q/s':>8}"
        f"{'rank1':>7}{'top50':>7}{'agree':>7}{'x p50':>7}{'x mem':>7}{'r1/ex':>7}"
        f"{'t50/ex':>7}  meets 1M target"
    )
    for r in results:
        r1_ratio = r.rank1 / base.rank1 if base.rank1 else float("nan")
        t50_ratio = r.top50 / base.top50 if base.top50 else float("nan")
        meets = (
            size >= TARGET_SIZE
            and r.p50_ms < TARGET_P50_MS
            and r1_ratio >= TARGET_RECALL_RATIO
            and t50_ratio >= TARGET_RECALL_RATIO
        )
        print(
            f"{r.name:<22}{r.build_s:>8.1f}{r.bytes_per_vector:>7.0f}{r.p50_ms:>8.2f}"
            f"{r.p99_ms:>8.2f}{r.qps:>8.0f}{r.rank1:>7.3f}{r.top50:>7.3f}{r.agree:>7.3f}"
            f"{base.p50_ms / r.p50_ms:>7.1f}{base.bytes_per_vector / r.bytes_per_vector:>7.1f}"
            f"{r1_ratio:>7.3f}{t50_ratio:>7.3f}  {'yes' if meets else 'no'}"
        )


def run_size(size: int, args: argparse.Namespace) -> list[Result]:
    """Build and measure exact and every compressed variant at one gallery size."""
    t0 = time.perf_counter()
    data = make_gallery(size, DIM, args.clusters, args.cluster_weight, args.seed)
    probes, mates = make_probes(data, args.queries, args.seed, args.noise)
    gallery = data.vectors
    gen_s = time.perf_counter() - t0
    ids = np.arange(size, dtype=np.int64)
    sample = gallery[np.random.default_rng(args.seed).choice(size, 2000, replace=False)]
    pair = (sample[:1000] * sample[1000:]).sum(axis=1)
    mate_cos = (gallery[mates] * probes).sum(axis=1)
    print(
        f"\n[{size:,}] data in {gen_s:.1f} s; random-pair cosine {pair.mean():+.3f} "
        f"+- {pair.std():.3f}; probe-mate cosine {mate_cos.mean():.3f} "
        f"({mate_cos.min():.2f}..{mate_cos.max():.2f})",
        flush=True,
    )
    latency_queries = min(args.queries, args.latency_queries)
    results: list[Result] = []
    exact_top1: np.ndarray | None = None
    for spec in ["Flat", *args.variants]:
        factory, nprobes = parse_variant(spec)
        index = FaissIndex(DIM, factory)
        if index.min_train_vectors > size:
            print(f"  {factory}: skipped, needs {index.min_train_vectors:,} training vectors")
            continue
        t0 = time.perf_counter()
        index.add(ids, gallery)
        build_s = time.perf_counter() - t0
        for nprobe in nprobes:
            if nprobe is not None:
                index.nprobe = nprobe
            name = factory + (f" np={nprobe}" if nprobe is not None else "")
            result, top1 = measure(name, index, build_s, probes, mates, exact_top1, latency_queries)
            if exact_top1 is None:
                exact_top1 = top1
            results.append(result)
            print(
                f"  {name:<22} build {build_s:6.1f} s  p50 {result.p50_ms:6.2f} ms  "
                f"rank1 {result.rank1:.3f}  top50 {result.top50:.3f}",
                flush=True,
            )
        del index
        gc.collect()
    print_table(size, results)
    return results


@dataclass
class AppResult:
    """Figures for one index kind at one gallery size, through the app's search path."""

    kind: str
    build_s: float
    bytes_per_template: float  # the FAISS index in the process heap
    store_bytes_per_template: float  # the re-ranking store (memory-mapped file)
    p50_ms: float
    p99_ms: float
    index_p50_ms: float  # the catalogue's slot search alone (index + exact re-ranking)
    qps: float
    rank1: float
    top_k: float
    same_rank1: float
    same_top10: float


def _probe_faces(probes: np.ndarray) -> list[Any]:
    """Synthetic embedded faces carrying the probes as sface templates."""
    from facetrail.biometrics.face import Face

    box = (0.0, 0.0, 1.0, 1.0)
    marks = np.zeros((5, 2), np.float32)
    return [Face(box, marks, 1.0, templates={"sface": p}) for p in probes]


def _rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one) in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _rss_parts() -> str:
    """This process's resident memory split into anonymous (heap) and file-backed pages
    (the memory-mapped re-ranking store and database)."""
    status = Path(f"/proc/{os.getpid()}/status").read_text().splitlines()
    kb = {x.split(":")[0]: int(x.split()[1]) for x in status if x.startswith("Rss")}
    return (
        f"RSS {kb.get('RssAnon', 0) / 1024:.0f} MiB anonymous + "
        f"{kb.get('RssFile', 0) / 1024:.0f} MiB file-backed"
    )


def exact_truth(vectors: np.ndarray, probes: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of each probe's exact top-k (descending, ties by row), by chunked matmul."""
    best = np.full((len(probes), k), -np.inf, np.float32)
    best_ids = np.zeros((len(probes), k), np.int64)
    for lo in range(0, len(vectors), GEN_CHUNK):
        scores = probes @ vectors[lo : lo + GEN_CHUNK].T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        cand = np.concatenate([best, np.take_along_axis(scores, part, 1)], axis=1)
        cand_ids = np.concatenate([best_ids, part + lo], axis=1)
        keep = np.lexsort((cand_ids, -cand), axis=1)[:, :k]
        best = np.take_along_axis(cand, keep, 1)
        best_ids = np.take_along_axis(cand_ids, keep, 1)
    return best_ids


def _bench_name(size: int) -> str:
    """The bulk-loaded gallery of `size` templates in a kept home."""
    return f"bench-{size}"


def _reuse_bulk(
    kernel: Any, size: int, kind: str, vectors: np.ndarray, reuse_index: bool = False
) -> Any:
    """The gallery a previous run bulk loaded into a kept home (`--home`), its index
    rebuilt from the same (regenerated, seeded) vectors by the current code, or with
    `reuse_index` the saved index opened as the catalogue finds it (rebuilt from the
    database if stale or of another factory); None when the home holds no such gallery."""
    from sqlalchemy import func, select

    from facetrail.index.bulk import BulkGallery
    from facetrail.store.models import Gallery as GalleryRow
    from facetrail.store.models import Template

    with kernel.reader() as session:
        gallery_id = session.scalar(
            select(GalleryRow.id).where(GalleryRow.name == _bench_name(size))
        )
        if gallery_id is None:
            return None
        first, count = session.execute(
            select(func.min(Template.id), func.count(Template.id)).where(
                Template.gallery_id == gallery_id
            )
        ).one()
    if count != size:
        raise SystemExit(f"kept home holds {count} templates for {_bench_name(size)}, not {size}")
    with kernel.database.transaction() as session:
        session.get(GalleryRow, gallery_id).index_factory = kind
    ids = np.arange(first, first + size, dtype=np.int64)
    t0 = time.perf_counter()
    if reuse_index:
        kernel.catalog.get(gallery_id, "sface", DIM, kind)
    else:
        kernel.catalog.adopt(gallery_id, "sface", DIM, kind, ids, vectors)
    print(
        f"\n[{size:,}] reusing the kept home's gallery (database not reloaded"
        f"{', saved index opened' if reuse_index else ''})"
    )
    return BulkGallery(
        gallery_id, ids, [f"s{i}" for i in range(size)], 0.0, time.perf_counter() - t0
    )


def run_app_size(size: int, args: argparse.Namespace) -> list[AppResult]:
    """Bulk-load one gallery and measure every index kind through services/matching.

    Without `exact` among the kinds (sizes whose Flat copy does not fit next to the
    source vectors) the baseline row is exact search by chunked matmul over the same
    vectors, in the same run, and the gallery is bulk loaded as the first kind.
    """
    import facetrail
    from facetrail.index.bulk import bulk_load
    from facetrail.index.kinds import ivf_lists
    from facetrail.index.slots import FaissSlot
    from facetrail.services.matching import rank_subjects_batch
    from facetrail.store.models import Gallery as GalleryRow

    data = make_gallery(size, DIM, args.clusters, args.cluster_weight, args.seed)
    probes, mates = make_probes(data, args.queries, args.seed, args.noise)
    faces = _probe_faces(probes)
    server = None
    matmul = "exact" not in args.kinds
    keep = Path(args.home) if args.home else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.nullcontext(str(keep))
        if keep is not None
        else tempfile.TemporaryDirectory(dir=args.workdir)
    ) as tmp:
        settings: dict[str, Any] = {"compress_above": 10**12}
        if "milvus" in args.kinds:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.milvus_server import MilvusServer

            server = MilvusServer(Path(tmp) / "milvus-data").start()
            settings.update(index_url=server.url, milvus_index_type=args.milvus_index_type)
        app = facetrail.open(Path(tmp) / "home", **settings)
        try:
            kernel = app.kernel
            results: list[AppResult] = []
            exact_ranked: list[list[str]] | None = None
            names_of_rows = np.array([f"s{i}" for i in range(size)])
            if matmul:
                t0 = time.perf_counter()
                truth = exact_truth(data.vectors, probes, args.top)
                truth_s = time.perf_counter() - t0
                exact_ranked = [list(names_of_rows[row]) for row in truth]
                mate_names = names_of_rows[mates]
                results.append(
                    AppResult(
                        "exact(mm)",
                        truth_s,
                        float("nan"),
                        float("nan"),
                        float("nan"),
                        float("nan"),
                        float("nan"),
                        len(probes) / truth_s,
                        float(np.mean(truth[:, 0] == mates)),
                        float(np.mean((truth == mates[:, None]).any(axis=1))),
                        1.0,
                        1.0,
                    )
                )
                print(f"\n[{size:,}] exact truth by chunked matmul {truth_s:.1f} s", flush=True)
            t0 = time.perf_counter()
            first = args.kinds[0] if matmul else "exact"
            loaded = (
                _reuse_bulk(kernel, size, first, data.vectors, args.reuse_index) if keep else None
            )
            if loaded is None:
                loaded = bulk_load(kernel.catalog, _bench_name(size), data.vectors, kind=first)
            load_s = time.perf_counter() - t0
            names = np.array(loaded.subject_names)
            mate_names = names[mates]
            del data
            gc.collect()
            print(
                f"\n[{size:,}] bulk load {load_s:.1f} s (database {loaded.database_s:.1f} s, "
                f"{first} index {loaded.index_s:.1f} s); "
                f"RSS {_rss_mb():.0f} MiB",
                flush=True,
            )
            analyzer = kernel.analyzers.get("yunet+sface")
            depth = max(100, args.top * 5)
            # Each kind once; a partitioned compressed index again at every --nprobes value
            # (a search setting: the same index, no rebuild).
            runs = [(kind, None) for kind in args.kinds]
            if "compressed" in args.kinds:
                at = args.kinds.index("compressed") + 1
                runs[at:at] = [("compressed", n) for n in args.nprobes]
            slot: Any = None
            for kind, probe_lists in runs:
                if probe_lists is not None:
                    if not (isinstance(slot, FaissSlot) and slot.index.nprobe):
                        continue
                    slot.index.nprobe = min(probe_lists, ivf_lists(slot.factory))
                    build_s = float("nan")
                else:
                    with kernel.database.transaction() as session:
                        session.get(GalleryRow, loaded.gallery_id).index_factory = kind  # type: ignore[union-attr]
                    kernel.catalog.forget()
                    gc.collect()
                    if matmul and kind == first:
                        build_s = loaded.index_s  # built from the loaded vectors (adopt)
                    else:
                        t0 = time.perf_counter()
                        kernel.catalog.rebuild(loaded.gallery_id, "sface", DIM, kind)
                        build_s = time.perf_counter() - t0
                    slot = kernel.catalog.get(loaded.gallery_id, "sface", DIM, kind)
                per_template = store_per_template = float("nan")
                if isinstance(slot, FaissSlot):
                    per_template = slot.index.nbytes() / size
                    store_per_template = slot.store.nbytes / size if slot.store else 0.0
                with kernel.reader() as session:
                    gallery = session.get(GalleryRow, loaded.gallery_id)
                n_latency = (
                    args.milvus_latency_queries if kind == "milvus" else args.latency_queries
                )
                n_latency = min(n_latency, len(faces))
                for i in range(min(10, n_latency)):  # warm: page cache, statement cache
                    with kernel.reader() as session:
                        rank_subjects_batch(
                            session, kernel.catalog, gallery, analyzer, faces[i : i + 1], args.top
                        )
                times = np.empty(n_latency)
                cpu_times = np.empty(n_latency)
                index_times = np.empty(n_latency)
                for i in range(n_latency):
                    t0, c0 = time.perf_counter(), time.process_time()
                    with kernel.reader() as session:
                        rank_subjects_batch(
                            session, kernel.catalog, gallery, analyzer, faces[i : i + 1], args.top
                        )
                    times[i] = time.perf_counter() - t0
                    cpu_times[i] = time.process_time() - c0
                    t0 = time.perf_counter()
                    slot.search(probes[i : i + 1], depth)
                    index_times[i] = time.perf_counter() - t0
                t0 = time.perf_counter()
                ranked: list[list[Any]] = []
                for lo in range(0, len(faces), args.batch):
                    with kernel.reader() as session:
                        ranked += rank_subjects_batch(
                            session,
                            kernel.catalog,
                            gallery,
                            analyzer,
                            faces[lo : lo + args.batch],
                            args.top,
                        )
                batch_s = time.perf_counter() - t0
                subjects = [[c.subject for c in r] for r in ranked]
                exact_ranked = exact_ranked or subjects
                rank1 = np.mean(
                    [bool(r) and r[0] == m for r, m in zip(subjects, mate_names, strict=True)]
                )
                top_k = np.mean([m in set(r) for r, m in zip(subjects, mate_names, strict=True)])
                same1 = np.mean(
                    [a[:1] == b[:1] for a, b in zip(exact_ranked, subjects, strict=True)]
                )
                same10 = np.mean(
                    [
                        set(a[:10]) == set(b[:10])
                        for a, b in zip(exact_ranked, subjects, strict=True)
                    ]
                )
                result = AppResult(
                    kind if probe_lists is None else f"{kind}@{slot.index.nprobe}",
                    build_s,
                    per_template,
                    store_per_template,
                    float(np.percentile(times, 50) * 1e3),
                    float(np.percentile(times, 99) * 1e3),
                    float(np.percentile(index_times, 50) * 1e3),
                    len(faces) / batch_s,
                    float(rank1),
                    float(top_k),
                    float(same1),
                    float(same10),
                )
                results.append(result)
                extra = (
                    f"server RSS {_rss_mb(server.process.pid):.0f} MiB"
                    if (kind == "milvus" and server and server.process)
                    else _rss_parts()
                )
                factory = slot.factory if isinstance(slot, FaissSlot) else kind
                nprobe = slot.index.nprobe if isinstance(slot, FaissSlot) else None
                print(
                    f"  {result.kind:<11} [{factory}{f' nprobe {nprobe}' if nprobe else ''}]"
                    f" build {build_s:7.1f} s  p50 {result.p50_ms:8.2f} ms  "
                    f"p99 {result.p99_ms:8.2f} ms  (CPU p50 "
                    f"{np.percentile(cpu_times, 50) * 1e3:.2f} ms; slot alone p50 "
                    f"{result.index_p50_ms:.2f} ms)"
                    f"  rank1 {rank1:.3f}  top{args.top} {top_k:.3f}  {extra}; load average "
                    f"{os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            print_app_table(size, args.top, results)
            return results
        finally:
            app.close()
            if server is not None:
                server.stop()


def print_app_table(size: int, top: int, results: list[AppResult]) -> None:
    """One size's app-path results with ratios against exact (the first row)."""
    base = results[0]
    print(
        f"\n== app search path, gallery {size:,} x {DIM}-d, top {top} ==\n"
        f"{'kind':<12}{'build s':>9}{'B/tmpl':>8}{'store B':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'slot p50':>9}{'q/s':>8}{'rank1':>7}{'top' + str(top):>7}{'r1/ex':>7}{'tk/ex':>7}"
        f"{'same1':>7}{'same10':>7}{'p50/ex':>8}"
    )
    for r in results:
        print(
            f"{r.kind:<12}{r.build_s:>9.1f}{r.bytes_per_template:>8.0f}"
            f"{r.store_bytes_per_template:>8.0f}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.index_p50_ms:>9.2f}{r.qps:>8.0f}{r.rank1:>7.3f}{r.top_k:>7.3f}"
            f"{r.rank1 / base.rank1 if base.rank1 else float('nan'):>7.3f}"
            f"{r.top_k / base.top_k if base.top_k else float('nan'):>7.3f}"
            f"{r.same_rank1:>7.3f}{r.same_top10:>7.3f}{r.p50_ms / base.p50_ms:>8.3f}"
        )


def run_index_only(size: int, args: argparse.Namespace) -> None:
    """One compressed factory at `size` without a Flat copy: exact truth by chunked matmul.

    For sizes whose bulk load into a database does not fit (10M here): build time, index
    bytes per template, process memory, single-probe p50/p99 through the catalogue's
    FaissSlot (the shortlist depth the app uses), and mate recall vs exact search.
    """
    from facetrail.index.kinds import COMPRESSED_FACTORY
    from facetrail.index.rerank import RerankStore
    from facetrail.index.slots import FaissSlot
    from facetrail.security.sealing import PLAINTEXT

    factory = args.factory or COMPRESSED_FACTORY
    t0 = time.perf_counter()
    data = make_gallery(size, DIM, args.clusters, args.cluster_weight, args.seed)
    probes, mates = make_probes(data, args.queries, args.seed, args.noise)
    vectors = data.vectors
    del data
    gc.collect()
    print(
        f"\n[{size:,}] data in {time.perf_counter() - t0:.0f} s; RSS {_rss_mb():.0f} MiB",
        flush=True,
    )
    t0 = time.perf_counter()
    best = np.full((len(probes), TOP_K), -np.inf, np.float32)
    best_ids = np.zeros((len(probes), TOP_K), np.int64)
    for lo in range(0, size, GEN_CHUNK):
        scores = probes @ vectors[lo : lo + GEN_CHUNK].T
        part = np.argpartition(-scores, TOP_K, axis=1)[:, :TOP_K]
        cand = np.concatenate([best, np.take_along_axis(scores, part, 1)], axis=1)
        cand_ids = np.concatenate([best_ids, part + lo], axis=1)
        keep = np.argsort(-cand, axis=1)[:, :TOP_K]
        best = np.take_along_axis(cand, keep, 1)
        best_ids = np.take_along_axis(cand_ids, keep, 1)
    exact_s = time.perf_counter() - t0
    ex_rank1 = float(np.mean(best_ids[:, 0] == mates))
    ex_top = float(np.mean((best_ids == mates[:, None]).any(axis=1)))
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex(DIM, factory)
    index.add(np.arange(size, dtype=np.int64), vectors)
    build_s = time.perf_counter() - t0
    store = None if factory == "Flat" else RerankStore.borrowing(np.arange(size), vectors, 0)
    slot = FaissSlot(index, Path("unused"), PLAINTEXT, store)
    depth = max(100, TOP_K * 5)
    times = np.empty(min(args.latency_queries, len(probes)))
    for i in range(len(times)):
        t1 = time.perf_counter()
        slot.search(probes[i : i + 1], depth)
        times[i] = time.perf_counter() - t1
    t1 = time.perf_counter()
    _, found = slot.search(probes, depth)
    qps = len(probes) / (time.perf_counter() - t1)
    # The app re-ranks the candidates exactly from the stored templates; do the same.
    exact_scores = np.einsum("qcd,qd->qc", vectors[found], probes)
    found = np.take_along_axis(found, np.argsort(-exact_scores, axis=1, kind="stable"), 1)
    rank1 = float(np.mean(found[:, 0] == mates))
    top = float(np.mean((found[:, :TOP_K] == mates[:, None]).any(axis=1)))
    same10 = float(
        np.mean([set(a[:10]) == set(b[:10]) for a, b in zip(found, best_ids, strict=True)])
    )
    print(
        f"  {factory}: build {build_s:.0f} s, {index.nbytes() / size:.0f} B/template index, "
        f"process RSS {_rss_mb():.0f} MiB (before build {rss_before:.0f}), "
        f"p50 {np.percentile(times, 50) * 1e3:.2f} ms p99 {np.percentile(times, 99) * 1e3:.2f} ms "
        f"(depth {depth}), batch {qps:.0f} q/s; rank1 {rank1:.3f} (exact {ex_rank1:.3f}), "
        f"top{TOP_K} {top:.3f} (exact {ex_top:.3f}), top-10 id set = exact {same10:.3f}; "
        f"exact truth by matmul {exact_s:.0f} s",
        flush=True,
    )


def main() -> None:
    """Parse arguments and run every size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, TARGET_SIZE])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=200, help="single-query runs")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--clusters", type=int, default=2000, help="0 = uniform data")
    parser.add_argument("--cluster-weight", type=float, default=0.5)
    parser.add_argument("--noise", choices=["identity", "isotropic"], default="identity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--app", action="store_true", help="measure the app's search path")
    parser.add_argument("--kinds", nargs="+", default=["exact", "compressed", "milvus"])
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="--app --home: open the kept home's saved index instead of rebuilding it",
    )
    parser.add_argument(
        "--nprobes",
        type=int,
        nargs="*",
        default=[],
        help="--app: measure a partitioned compressed index again at these IVF nprobe values",
    )
    parser.add_argument("--top", type=int, default=50, help="--app: subjects per probe")
    parser.add_argument("--batch", type=int, default=100, help="--app: probes per batch")
    parser.add_argument("--milvus-latency-queries", type=int, default=20)
    parser.add_argument("--milvus-index-type", default="FLAT")
    parser.add_argument("--workdir", default=None, help="--app: where the temp home goes")
    parser.add_argument(
        "--home",
        default=None,
        help="--app: keep the home here and reuse a gallery bulk loaded there by an earlier run",
    )
    parser.add_argument(
        "--index-only",
        action="store_true",
        help="one compressed factory, no Flat copy, no database (10M)",
    )
    parser.add_argument("--factory", default=None, help="--index-only: FAISS factory")
    args = parser.parse_args()
    if args.index_only:
        for size in args.sizes:
            run_index_only(size, args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MiB")
        return
    if args.app:
        t0 = time.perf_counter()
        for size in args.sizes:
            run_app_size(size, args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\ntotal {time.perf_counter() - t0:.0f} s, peak RSS {peak:.0f} MiB")
        return
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads max")
    t0 = time.perf_counter()
    for size in args.sizes:
        run_size(size, args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
