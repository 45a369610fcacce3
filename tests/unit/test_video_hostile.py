"""Hostile video sources: still images, damaged packets, and streams that never send a frame."""

from __future__ import annotations

import http.server
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from facetrail.media.video import ReconnectPolicy, VideoError, VideoSource

FRAMES = 40


def _write_clip(path: Path, container: str, codec: str) -> bytes:
    """A 40-frame clip of noise (every frame a full-size packet) and its bytes."""
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index in range(FRAMES):
            pixels = np.random.default_rng(index).integers(0, 255, (64, 96, 3), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path.read_bytes()


def _plain_decode(path: Path) -> tuple[int, bool]:
    """(frames, failed) for a plain PyAV decode loop: what ended deployments before."""
    frames = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                frames += 1
        except av.error.InvalidDataError:
            return frames, True
    return frames, False


def test_a_damaged_packet_mid_file_is_skipped_and_counted(tmp_path: Path) -> None:
    original = _write_clip(tmp_path / "clip.avi", "avi", "mpeg4")
    damaged = tmp_path / "damaged.avi"
    for seed in range(60):  # find a damage the decoder reports (most it conceals silently)
        rng = random.Random(seed)
        data = bytearray(original)
        position = rng.randrange(len(data) // 4, 3 * len(data) // 4)
        for offset in range(rng.choice((8, 64, 400))):
            data[position + offset] = rng.randrange(256)
        damaged.write_bytes(bytes(data))
        plain_frames, failed = _plain_decode(damaged)
        if failed:
            break
    else:
        pytest.fail("no damage in 60 tries made the decoder report an error")
    source = VideoSource(str(damaged))
    frames = list(source.frames())  # no error: the damaged packet is skipped
    assert source.corrupt_packets >= 1
    assert len(frames) > plain_frames
    assert len(frames) >= FRAMES - 5


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_still_image_is_refused_as_a_video_source(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"still.{fmt.lower()}"
    Image.new("RGB", (64, 64), (90, 90, 90)).save(path, fmt)
    named_as_video = tmp_path / "camera.mp4"
    named_as_video.write_bytes(path.read_bytes())
    for candidate in (path, named_as_video):
        with pytest.raises(VideoError, match=f"still {fmt} image, not a video"):
            VideoSource(str(candidate))


class _HeaderOnly(http.server.BaseHTTPRequestHandler):
    """Serves an MPEG-TS that declares a video stream and then ends: no frame, ever."""

    body = b""
    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def silent_stream(tmp_path: Path) -> Iterator[str]:
    data = _write_clip(tmp_path / "clip.ts", "mpegts", "mpeg2video")
    _HeaderOnly.body = data[: 188 * 3]  # PAT, PMT and one packet: opens, yields nothing
    _HeaderOnly.served = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeaderOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    server.shutdown()
    server.server_close()


def test_a_stream_that_opens_but_sends_no_frame_stops_with_an_error(silent_stream: str) -> None:
    policy = ReconnectPolicy(initial_delay_s=0.05, open_timeout_s=2, first_frame_timeout_s=2.0)
    source = VideoSource(silent_stream, policy=policy)
    outcome: list[BaseException | int] = []

    def consume() -> None:
        try:
            outcome.append(len(list(source.frames())))
        except BaseException as error:
            outcome.append(error)

    started = time.perf_counter()
    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():
        source.stop()
        pytest.fail(f"still reconnecting after 20 s ({source.reconnects} reconnections)")
    assert time.perf_counter() - started < 15
    assert len(outcome) == 1 and isinstance(outcome[0], VideoError), outcome
    assert "no frame received" in str(outcome[0])
    assert source.reconnects >= 1 and _HeaderOnly.served >= 2
