"""Live recognition speed: multiple of real time, and frame-to-alert latency p50/p95.

Runs real deployments (YuNet + SFace, ByteTrack, frozen watchlist of the five reference
photos) on the shared 640x360 hamilton clip and on a 1280x720 upscale of it made here
with PyAV, against a baseline measured in the same run: detect and embed every face of
every frame (no tracking). Speed runs take frames as fast as they decode; latency runs
deliver them at their own timestamps, as a camera would (`watch --realtime`).

    python benchmarks/live.py [--data ../shared/data] [--latency-runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

import facetrail
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.facade import Facetrail
from facetrail.media.video import VideoSource
from facetrail.services.live import DEFAULT_STRIDE, WatchRequest

CLIP = Path("video/short_hamilton_clip.mp4")
REFERENCES = Path("video/references")
HD_SIZE = (1280, 720)
TARGET_REALTIME = 2.0
TARGET_P95_MS = 300.0


def upscale(source: Path, target: Path, size: tuple[int, int]) -> Path:
    """Re-encode `source` at `size` (H.264, same frame rate) with PyAV."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream_in = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=stream_in.average_rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for frame in inp.decode(stream_in):
            pixels = cv2.resize(frame.to_ndarray(format="bgr24"), size, cv2.INTER_CUBIC)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def baseline(clip: Path) -> tuple[float, float]:
    """(video seconds, wall seconds) to detect and embed every face of every frame."""
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    source = VideoSource(str(clip))
    started = time.perf_counter()
    first = last = 0.0
    for count, frame in enumerate(source.frames()):
        if count == 0:
            first = frame.time_s
        last = frame.time_s
        analyzer.analyze(frame.pixels)
    wall = time.perf_counter() - started
    return last - first + 1 / source.fps, wall


def deploy(app: Facetrail, clip: Path, auth: int, *, pace: bool) -> dict[str, object]:
    """One deployment; its summary figures and alert latencies."""
    runner = app.deployments.runner(
        WatchRequest(source=str(clip), watchlist="bench", authorisation=auth, pace=pace)
    )
    runner.start()
    alerts: list[str] = []
    summary = runner.run(on_alert=lambda event: alerts.append(event.subject))
    return {"summary": summary, "latencies": runner.latencies_ms, "alerts": alerts}


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data")
    parser.add_argument("--latency-runs", type=int, default=3)
    args = parser.parse_args()
    clip = args.data / CLIP
    if not clip.is_file():
        print(f"missing {clip}: pass --data pointing at the shared data folder", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="facetrail-live-bench-") as tmp:
        work = Path(tmp)
        hd_clip = upscale(clip, work / "hamilton_1280x720.mp4", HD_SIZE)
        app = facetrail.open(work / "home", user="bench")
        try:
            app.enrol(args.data / REFERENCES, gallery="bench", legal_basis="benchmark")
            auth = app.authorise(
                purpose="benchmark",
                case="BENCH",
                legal_basis="benchmark",
                necessity="benchmark",
                proportionality="benchmark",
                officer="bench",
                rank="bench",
                galleries=["bench"],
                kind="live_deployment",
            ).id
            app.watchlists.create("bench", gallery="bench", reason="benchmark")
            print(f"pipeline yunet+sface, frame stride {DEFAULT_STRIDE}, 2-core machine")
            print(
                f"{'clip':<22}{'video s':>8}{'wall s':>8}{'x real time':>12}{'fps':>7}"
                f"{'tracks':>7}{'alerts':>7}{'vs baseline':>12}"
            )
            for label, path in (("640x360 hamilton", clip), ("1280x720 upscale", hd_clip)):
                video_s, base_wall = baseline(path)
                base_factor = video_s / base_wall
                print(
                    f"{label + ' baseline':<22}{video_s:>8.2f}{base_wall:>8.2f}"
                    f"{base_factor:>12.2f}{'':>7}{'':>7}{'':>7}{'1.00x':>12}"
                )
                run = deploy(app, path, auth, pace=False)
                summary = run["summary"]
                wall = summary.duration_s / summary.realtime_factor
                print(
                    f"{label + ' deployment':<22}{summary.duration_s:>8.2f}{wall:>8.2f}"
                    f"{summary.realtime_factor:>12.2f}{summary.processing_fps:>7.1f}"
                    f"{summary.tracks:>7}{summary.alerts:>7}"
                    f"{summary.realtime_factor / base_factor:>11.2f}x"
                )
                print(f"  alerts: {', '.join(run['alerts']) or 'none'}")
                if label.startswith("640") and summary.realtime_factor < TARGET_REALTIME:
                    print(f"  BELOW TARGET: {TARGET_REALTIME}x real time")
            for label, path in (("640x360 hamilton", clip), ("1280x720 upscale", hd_clip)):
                latencies: list[float] = []
                for _ in range(args.latency_runs):
                    latencies += deploy(app, path, auth, pace=True)["latencies"]
                p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
                verdict = "ok" if p95 < TARGET_P95_MS else f"ABOVE TARGET {TARGET_P95_MS:.0f} ms"
                print(
                    f"{label} frame-to-alert latency at camera pace ({len(latencies)} alerts,"
                    f" {args.latency_runs} runs): p50 {p50:.0f} ms, p95 {p95:.0f} ms,"
                    f" max {max(latencies, default=float('nan')):.0f} ms ({verdict})"
                )
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
