"""Federated step-1 latency (HTTP): one and three partner node processes vs a local search.

Usage: python benchmarks/federation.py [--data DIR] [--repeat 10] [--distractors 40]
Starts three node processes on loopback (each with its own home, keys and gallery), then
times, in this run: B's own local search of the probe, a federated search of B, and a
federated search of B, C and D at once. Prints medians and ratios; not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import facetrail
from facetrail.services.federated_search import FederatedSearchRequest
from facetrail.services.federation_policy import policy_from
from facetrail.services.partners import PartnerRequest

REPO = Path(__file__).resolve().parent.parent
SUFFIXES = {".jpg", ".jpeg", ".png"}
AUTH = {
    "purpose": "benchmark",
    "case": "BENCH-1",
    "legal_basis": "test data",
    "necessity": "measure latency",
    "proportionality": "public test photos",
    "officer": "Bench",
    "rank": "Inspector",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds over `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def gallery_folder(faces: Path, target: Path, distractors: int) -> Path:
    """Subject folders of symlinks: the face_recognition people plus LFW distractors."""
    people = [p for p in sorted((faces / "face_recognition").iterdir()) if p.is_dir()]
    lfw = [p for p in sorted((faces / "lfw-dev").iterdir()) if p.is_dir()][:distractors]
    for person in people + lfw:
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in SUFFIXES)
        keep = photos[:2] if person in people else photos[:1]
        (target / person.name).mkdir(parents=True, exist_ok=True)
        for photo in keep:
            (target / person.name / photo.name).symlink_to(photo)
    return target


def start_node(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "facetrail", "--home", str(home), "federation", "serve"]
    process = subprocess.Popen([*command, "--port", str(port)], env=env)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/federation/v1/node", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"node at {home} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--distractors", type=int, default=40)
    options = parser.parse_args()
    probe = options.data / "face_recognition" / "Barack_Obama" / "obama2.jpg"
    root = Path(tempfile.mkdtemp(prefix="facetrail-federation-bench-"))
    photos = gallery_folder(options.data, root / "photos", options.distractors)
    partners = ("B", "C", "D")
    a = facetrail.open(root / "A", user="bench")
    a.node.init("A")
    a.create_gallery("local")
    authorisation = a.authorise(**AUTH, galleries=["local"], kind="federated_query").id
    ports = {name: free_port() for name in partners}
    for name in partners:
        node = facetrail.open(root / name, user="bench")
        node.node.init(name)
        node.enrol(photos, gallery="custody")
        a_info = a.node.show()
        policy = policy_from({"galleries": ["custody"], "min_score": 0.0})
        node.partners.add(PartnerRequest("A", "http://127.0.0.1:1", a_info.public_key, policy))
        info = node.node.show()
        a.partners.add(
            PartnerRequest(
                name,
                f"http://127.0.0.1:{ports[name]}",
                info.public_key,
                policy_from({"galleries": ["local"]}),
            )
        )
        node.close()
    processes = [start_node(root / name, ports[name]) for name in partners]
    try:
        local = facetrail.open(root / "B", user="bench")
        local_auth = local.authorise(**{**AUTH, "case": "BENCH-L"}, galleries=["custody"]).id
        local_ms = median_ms(
            lambda: local.search(probe, gallery="custody", authorisation=local_auth, top=10),
            options.repeat,
        )

        def federated(names: tuple[str, ...]) -> None:
            request = FederatedSearchRequest(probe, names, authorisation, top=10, timeout=120)
            result = a.federated.search(request)
            assert all(p.status == "hit" for p in result.partners), result

        one_ms = median_ms(lambda: federated(("B",)), options.repeat)
        three_ms = median_ms(lambda: federated(partners), options.repeat)
        local.close()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
        a.close()
    size = len(list(photos.iterdir()))
    print(f"gallery: {size} subjects per node; probe {probe.name}; median of {options.repeat}")
    print(f"local search at B (in process):  {local_ms:8.1f} ms")
    print(f"federated step 1, 1 partner:     {one_ms:8.1f} ms  ({one_ms / local_ms:.2f}x local)")
    print(
        f"federated step 1, 3 partners:    {three_ms:8.1f} ms  ({three_ms / local_ms:.2f}x local,"
        f" {three_ms / one_ms:.2f}x one partner)"
    )


if __name__ == "__main__":
    main()
