"""The server's cost over the in-process call, measured in the same run.

1. Search requests/s and p50/p95 latency over HTTP (`facetrail serve` as a real process,
   bearer tokens, multipart probes) with 1, 4 and 16 concurrent clients, against the
   direct in-process `Search.search` call with as many threads (target: HTTP at most
   1.2x the in-process latency at 1 client). The 1-client ratio is also measured as the
   median of per-pair ratios over `--pairs` interleaved pairs (the same probe in-process
   then over HTTP, the order alternating), so load that comes and goes on a shared machine
   hits both sides of a pair alike instead of one whole column.
2. SSE alert latency: from the alert's database timestamp to its `alert` event arriving
   at a client of /api/v1/deployments/{id}/alerts/stream (p50/p95).
3. Concurrent streams: how many 640x360 clips (the shared hamilton clip, ~30 fps,
   delivered at their own pace as a camera would) one server keeps at real time at once,
   with alerts flowing (real time: every deployment's realtime_factor >= 0.9).

Usage: python benchmarks/api.py [--data ../shared/data] [--requests 40] [--pairs 80]
       [--streams 1,2,4] [--only search]
Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

import facetrail
from facetrail.config import Settings
from facetrail.core.identity import authenticate_token
from facetrail.core.kernel import Kernel
from facetrail.services.search import Search, SearchRequest

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"
PEOPLE_LIMIT = 40
IN_PROCESS_THREADS = 4
CLIP = "video/short_hamilton_clip.mp4"
REFERENCES = "video/references"
COMMON = {
    "legal_basis": "common law",
    "necessity": "benchmark",
    "proportionality": "benchmark",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare(home: Path, data: Path) -> dict[str, object]:
    """A home with a gallery of real faces, a watchlist, users and two authorisations."""
    app = facetrail.open(home)
    people = sorted(p for p in (data / "faces" / "deepface").iterdir() if p.is_dir())
    for person in people[:PEOPLE_LIMIT]:
        first = sorted(person.glob("*.jpg"))[0]
        app.enrol(first, gallery="custody", subject=person.name, source="bench")
    app.enrol(data / REFERENCES, gallery="watch", legal_basis="test", source="refs")
    app.watchlists.create("hamilton", gallery="watch", reason="benchmark")
    admin_token = app.users.bootstrap("admin", PASSWORD).token
    app.close()
    admin = facetrail.open(home, user="admin", token=admin_token)
    for name, role in (("inv", "investigator"), ("ao", "authorising_officer"), ("op", "operator")):
        admin.users.create(name, role=role, password=PASSWORD, rank="Superintendent")
    tokens = {n: admin.users.token(n, PASSWORD).token for n in ("inv", "ao", "op")}
    admin.close()
    officer = facetrail.open(home, user="ao", token=tokens["ao"])
    search = officer.authorise(
        purpose="bench", case="B-1", galleries=["custody"], for_user="inv", **COMMON
    ).id
    live = officer.authorise(
        purpose="bench", case="B-2", galleries=["watch"], kind="live_deployment",
        watchlists=["hamilton"], for_user="op", **COMMON,
    ).id  # fmt: skip
    officer.close()
    probes = [sorted(p.glob("*.jpg"))[-1].read_bytes() for p in people[:PEOPLE_LIMIT]]
    return {"tokens": tokens, "search": search, "live": live, "probes": probes}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {**os.environ, "FACETRAIL_MODEL_QUEUE": "64", "FACETRAIL_MODEL_WORKERS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "facetrail", "serve", "--home", str(home), "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def run_load(call: object, clients: int, requests: int) -> tuple[float, list[float], int]:
    """(requests/s, latencies in ms, failures) of `requests` calls from `clients` threads."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal failures
        started = time.perf_counter()
        ok = call(index)  # type: ignore[operator]
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            failures += 0 if ok else 1

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - began), latencies, failures


def timed(call: Callable[[int], bool], index: int) -> float:
    """Milliseconds of one call (which must succeed)."""
    started = time.perf_counter()
    if not call(index):
        raise SystemExit("a benchmark call failed")
    return (time.perf_counter() - started) * 1000


def paired_ratios(
    direct: Callable[[int], bool], over_http: Callable[[int], bool], pairs: int
) -> list[float]:
    """HTTP / in-process latency of the same probe, one pair after another, order alternating."""
    ratios = []
    for index in range(pairs):
        if index % 2:
            http_ms = timed(over_http, index)
            direct_ms = timed(direct, index)
        else:
            direct_ms = timed(direct, index)
            http_ms = timed(over_http, index)
        ratios.append(http_ms / direct_ms)
    return ratios


def search_benchmark(
    home: Path, url: str, setup: dict[str, object], requests: int, pairs: int
) -> None:
    probes: list[bytes] = setup["probes"]  # type: ignore[assignment]
    token = setup["tokens"]["inv"]  # type: ignore[index]
    auth = setup["search"]
    kernel = Kernel(Settings(home=home))
    search = Search(kernel)
    with kernel.reader() as session:
        context = authenticate_token(session, token)  # type: ignore[arg-type]

    def direct(index: int) -> bool:
        request = SearchRequest(probes[index % len(probes)], "custody", int(auth), 10)  # type: ignore[call-overload]
        search.search(context, request)
        return True

    local = threading.local()

    def over_http(index: int) -> bool:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300
            )
        answer = client.post(
            "/api/v1/search",
            files={"probe": ("p.jpg", probes[index % len(probes)], "image/jpeg")},
            data={"gallery": "custody", "authorisation": str(auth), "top": "10"},
        )
        return answer.status_code == 200

    direct(0)
    over_http(0)
    print("search (1:N, 40-subject gallery, real probes)")
    head = ("clients", "in-process req/s", "p50 ms", "p95 ms", "HTTP req/s", "p50 ms", "p95 ms")
    print(" ".join(f"{h:>{max(8, len(h))}}" for h in head), " p50 ratio  failed")
    for clients in (1, 4, 16):
        # More than a few threads on one kernel exhaust its database pool (5 + 10): the
        # in-process baseline uses at most IN_PROCESS_THREADS, the server its model pool.
        rate_d, lat_d, _ = run_load(direct, min(clients, IN_PROCESS_THREADS), requests)
        rate_h, lat_h, failed = run_load(over_http, clients, requests)
        p50_d, p50_h = statistics.median(lat_d), statistics.median(lat_h)
        print(f"{clients:>8} {rate_d:>17.1f} {p50_d:>8.0f} {percentile(lat_d, .95):>8.0f}"
              f" {rate_h:>11.1f} {p50_h:>8.0f} {percentile(lat_h, .95):>8.0f}"
              f" {p50_h / p50_d:>9.2f}x {failed:>7}")  # fmt: skip
    ratios = paired_ratios(direct, over_http, pairs)
    quartiles = statistics.quantiles(ratios, n=4)
    print(f"1 client, {pairs} interleaved pairs (same probe): HTTP / in-process median"
          f" {statistics.median(ratios):.2f}x (quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f});"
          " target <= 1.2x")  # fmt: skip
    kernel.close()


def start_deployment(client: httpx.Client, source: Path, auth: int) -> int:
    answer = client.post(
        "/api/v1/deployments",
        json={"source": str(source), "watchlist": "hamilton", "authorisation": auth, "pace": True},
    )
    answer.raise_for_status()
    return int(answer.json()["deployment_id"])


def wait_ended(client: httpx.Client, deployment_id: int) -> dict[str, object]:
    while True:
        status = client.get(f"/api/v1/deployments/{deployment_id}").json()
        if not status["running"] and status["summary"] is not None:
            return status["summary"]  # type: ignore[no-any-return]
        time.sleep(0.5)


def sse_benchmark(url: str, setup: dict[str, object], data: Path) -> None:
    token = setup["tokens"]["op"]  # type: ignore[index]
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        for _ in range(2):
            deployment_id = start_deployment(client, data / CLIP, int(setup["live"]))  # type: ignore[call-overload]
            done = threading.Event()

            def listen(deployment: int = deployment_id, done: threading.Event = done) -> None:
                with (
                    httpx.Client(base_url=url, headers=headers, timeout=None) as sse,
                    sse.stream("GET", f"/api/v1/deployments/{deployment}/alerts/stream") as stream,
                ):
                    event = ""
                    for line in stream.iter_lines():
                        if done.is_set():
                            return
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and event == "alert":
                            received = time.time()
                            alert = json.loads(line.split(":", 1)[1])
                            created = datetime.fromisoformat(alert["created_at"]).timestamp()
                            latencies.append((received - created) * 1000)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            wait_ended(client, deployment_id)
            time.sleep(1.5)
            done.set()
    if latencies:
        print(f"\nSSE alert latency over {len(latencies)} alerts: p50"
              f" {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, .95):.0f} ms,"
              f" max {max(latencies):.0f} ms")  # fmt: skip
    else:
        print("\nSSE alert latency: no alert arrived")


def streams_benchmark(url: str, setup: dict[str, object], data: Path, counts: list[int]) -> None:
    token = setup["tokens"]["op"]  # type: ignore[index]
    print("\nconcurrent 640x360 clips at their own pace (~30 fps), alerts flowing")
    print(f"{'streams':>8} {'min realtime':>13} {'mean fps':>9} {'alerts':>7} {'kept up':>8}")
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300
    ) as client:
        for count in counts:
            ids = [start_deployment(client, data / CLIP, int(setup["live"])) for _ in range(count)]  # type: ignore[call-overload]
            summaries = [wait_ended(client, i) for i in ids]
            factors = [float(s["realtime_factor"]) for s in summaries]  # type: ignore[arg-type]
            fps = statistics.mean(float(s["processing_fps"]) for s in summaries)  # type: ignore[arg-type]
            alerts = sum(int(s["alerts"]) for s in summaries)  # type: ignore[call-overload]
            kept = "yes" if min(factors) >= 0.9 else "no"
            print(f"{count:>8} {min(factors):>13.2f} {fps:>9.1f} {alerts:>7} {kept:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=80)
    parser.add_argument("--streams", default="1,2,4")
    parser.add_argument("--only", choices=("search", "sse", "streams"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        setup = prepare(home, args.data)
        process, url = start_server(home)
        try:
            if args.only in (None, "search"):
                search_benchmark(home, url, setup, args.requests, args.pairs)
            if args.only in (None, "sse"):
                sse_benchmark(url, setup, args.data)
            if args.only in (None, "streams"):
                counts = [int(n) for n in args.streams.split(",")]
                streams_benchmark(url, setup, args.data, counts)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
