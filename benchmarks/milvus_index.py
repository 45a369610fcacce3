"""Milvus benchmark: MilvusIndex on a real milvus-lite server vs exact FaissIndex, same run.

Usage: python benchmarks/milvus_index.py [--size 100000] [--queries 200] [--index-type FLAT]

Starts `milvus-lite server --data-dir DIR --port PORT` (temp dir, loopback), then prints
server startup time, insert throughput (templates/s through MilvusIndex.add), single-query
search latency p50/p99 (ms, k=10) for both backends, the ratio, top-10 agreement with
exact FAISS, the server's resident memory, and its data dir size. Random unit 128-d
templates; probes are noisy mates (cosine 0.7). Numbers, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facetrail.index import FaissIndex
from facetrail.index.milvus_index import MilvusIndex

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.milvus_server import MilvusServer

DIM = 128
K = 10
MATE_COS = 0.7
ADD_CHUNK = 10_000
PARAMS = {
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 64}),
    "IVF_FLAT": ({"nlist": 256}, {"nprobe": 16}),
}


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def latencies_ms(search: object, probes: np.ndarray) -> np.ndarray:
    """Per-query wall time of search(probe[None], K) in milliseconds."""
    out = []
    for probe in probes:
        start = time.perf_counter()
        search(probe[None], K)  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1e3)
    return np.array(out)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dir_mb(path: Path) -> float:
    """Total size of the files under path in MiB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index-type", default="FLAT", choices=["FLAT", "HNSW", "IVF_FLAT"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gallery = unit(rng.standard_normal((args.size, DIM)))
    ids = np.arange(args.size, dtype=np.int64)
    mates = rng.choice(args.size, args.queries, replace=False)
    probes = unit(MATE_COS * gallery[mates] + 0.7 * unit(rng.standard_normal((args.queries, DIM))))

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = MilvusServer(data_dir).start()
        try:
            assert server.process is not None
            pid = server.process.pid
            print(f"server: {' '.join(server.command())}")
            print(f"startup: {server.startup_s:.2f} s, idle RSS {rss_mb(pid):.0f} MiB")
            build, search = PARAMS.get(args.index_type, ({}, {}))
            index = MilvusIndex(
                server.url,
                1,
                "bench",
                DIM,
                index_type=args.index_type,
                build_params=build,
                search_params=search,
            )
            start = time.perf_counter()
            for s in range(0, args.size, ADD_CHUNK):
                index.add(ids[s : s + ADD_CHUNK], gallery[s : s + ADD_CHUNK])
            milvus_add_s = time.perf_counter() - start
            start = time.perf_counter()
            index.flush()
            flush_s = time.perf_counter() - start
            index.search(probes[:1], K)  # first search builds/loads the segment index
            exact = FaissIndex(DIM)
            start = time.perf_counter()
            exact.add(ids, gallery)
            faiss_add_s = time.perf_counter() - start

            m_lat = latencies_ms(index.search, probes)
            f_lat = latencies_ms(exact.search, probes)
            _, got = index.search(probes, K)
            _, want = exact.search(probes, K)
            agree = np.mean([len(set(g) & set(w)) / K for g, w in zip(got, want, strict=True)])
            rank1 = np.mean(got[:, 0] == mates)
            print(
                f"size {args.size} x {DIM}-d, {args.queries} single queries, k={K}, "
                f"Milvus {args.index_type} {build} {search}"
            )
            print(
                f"insert: Milvus {args.size / milvus_add_s:,.0f}/s ({milvus_add_s:.1f} s, "
                f"flush {flush_s:.1f} s), FAISS {args.size / faiss_add_s:,.0f}/s"
            )
            for name, lat in (("Milvus", m_lat), ("FAISS exact", f_lat)):
                print(
                    f"search {name}: p50 {np.percentile(lat, 50):.2f} ms, "
                    f"p99 {np.percentile(lat, 99):.2f} ms"
                )
            ratio = np.percentile(m_lat, 50) / np.percentile(f_lat, 50)
            print(f"ratio Milvus/FAISS p50: {ratio:.1f}x")
            print(f"top-10 agreement with exact FAISS: {agree:.4f}; mate at rank 1: {rank1:.3f}")
            print(
                f"server RSS after load: {rss_mb(pid):.0f} MiB, data dir {dir_mb(data_dir):.0f} MiB"
            )
            index.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
