"""Video sources on real encoded files (made here with PyAV): formats, timestamps, errors."""

from __future__ import annotations

import socket
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from facetrail.media.video import ReconnectPolicy, VideoError, VideoSource, classify_source

FRAMES = 12
SIZE = (96, 64)  # width, height


def _write_clip(path: Path, container: str, codec: str, fps: int = 10) -> Path:
    """A small clip whose frame i is a flat grey of level 20 * i (so frames are tellable)."""
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        if codec == "gif":
            stream.time_base = Fraction(1, 100)
        for index in range(FRAMES):
            pixels = np.full((SIZE[1], SIZE[0], 3), 20 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


@pytest.mark.parametrize(
    ("name", "container", "codec"),
    [
        ("clip.mp4", "mp4", "libx264"),
        ("clip.mkv", "matroska", "libx264"),
        ("clip.avi", "avi", "mpeg4"),
        ("clip.gif", "gif", "gif"),
    ],
)
def test_every_frame_is_decoded_with_its_timestamp(
    tmp_path: Path, name: str, container: str, codec: str
) -> None:
    path = _write_clip(tmp_path / name, container, codec)
    source = VideoSource(str(path))
    assert (source.width, source.height) == SIZE
    assert not source.live
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(FRAMES))
    times = [f.time_s for f in frames]
    assert times == sorted(times)
    assert times[-1] - times[0] == pytest.approx((FRAMES - 1) / 10, abs=0.02)
    assert frames[0].pixels.shape == (SIZE[1], SIZE[0], 3)
    levels = [float(f.pixels.mean()) for f in frames]
    assert levels[-1] > levels[0] + 100  # the frames arrive in order, pixels intact


def test_stride_keeps_every_nth_frame_with_the_stream_indices(tmp_path: Path) -> None:
    path = _write_clip(tmp_path / "clip.mp4", "mp4", "libx264")
    frames = list(VideoSource(str(path), stride=3).frames())
    assert [f.index for f in frames] == [0, 3, 6, 9]


def test_stopping_early_ends_the_iterator(tmp_path: Path) -> None:
    path = _write_clip(tmp_path / "clip.mp4", "mp4", "libx264")
    source = VideoSource(str(path))
    seen = []
    for frame in source.frames():
        seen.append(frame.index)
        if frame.index == 2:
            break
    assert seen == [0, 1, 2]


def test_sources_that_cannot_be_opened_say_why(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such video file"):
        VideoSource(str(tmp_path / "missing.mp4"))
    with pytest.raises(VideoError, match="not a file"):
        VideoSource(str(tmp_path))
    with pytest.raises(VideoError, match="unsupported stream scheme 'ftp'"):
        VideoSource("ftp://127.0.0.1/video")
    with pytest.raises(VideoError, match="empty video source"):
        VideoSource("  ")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match=r"garbage\.mp4: cannot open"):
        VideoSource(str(garbage))
    with pytest.raises(VideoError, match="cannot open camera device /dev/video63"):
        VideoSource("/dev/video63")


def test_a_stream_nobody_serves_is_refused() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(VideoError, match=rf"http://127\.0\.0\.1:{port}/live\.ts: cannot open"):
        VideoSource(f"http://127.0.0.1:{port}/live.ts", policy=ReconnectPolicy(open_timeout_s=2))


def test_source_strings_are_classified() -> None:
    assert classify_source("rtsp://127.0.0.1:8554/cam").kind == "stream"
    assert classify_source("https://example.invalid/a.m3u8").live
    camera = classify_source("0")
    assert (camera.kind, camera.camera_index) == ("camera", 0)
    assert classify_source("/dev/video2").camera_index == 2


def test_reconnect_delays_double_up_to_the_cap() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.5, max_delay_s=3.0, max_attempts=5)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
