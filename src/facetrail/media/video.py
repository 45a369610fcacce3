"""Video frame sources: files, RTSP/HTTP(S) streams and cameras, with real timestamps.

Files and network streams are decoded with PyAV (FFmpeg); local camera devices with
OpenCV (this PyAV build has no v4l2 input). A live source (stream or camera) that drops
is reopened with exponential back-off; a file that cannot be opened is refused with the
reason. Frames are decoded on a background thread a few frames ahead of the consumer.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from facetrail.errors import InvalidInputError
from facetrail.media.images import sniff_format

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
CAMERA_PATTERN = re.compile(r"^(?:/dev/video(\d+)|(\d+))$")
DEFAULT_FPS = 25.0  # used only when a source states no frame rate at all
PREFETCH_FRAMES = 8  # decoded frames held ahead of the consumer
# A file's end is its end; a live stream's "end" (EOF) before its known duration, or with
# no duration at all, is a drop to reconnect from.
END_TOLERANCE_S = 0.5
# A damaged packet is skipped (and counted); this many in a row means the file is not
# worth reading on, and ends it with an error.
MAX_CONSECUTIVE_CORRUPT_PACKETS = 50
_STOP = object()


class VideoError(InvalidInputError):
    """A video source could not be opened or read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a dropped live source is reopened: doubling delays, then give up."""

    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_attempts: int = 8  # consecutive failed reopenings before the source is given up
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    # A live source that gives no frame for this long, over however many reconnections,
    # is given up with an error (a server that accepts but never sends video).
    first_frame_timeout_s: float = 30.0

    def delays(self) -> Iterator[float]:
        """The waits before each reopening attempt."""
        delay = self.initial_delay_s
        for _ in range(self.max_attempts):
            yield delay
            delay = min(self.max_delay_s, delay * 2)


@dataclass(frozen=True, slots=True)
class SourceKind:
    """What a source string names: a file, a network stream or a camera device."""

    kind: str  # file | stream | camera
    target: str
    camera_index: int | None = None

    @property
    def live(self) -> bool:
        """Whether the source is live (reconnected when it drops) rather than a file."""
        return self.kind != "file"


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded frame: its index, its presentation time and BGR pixels.

    `time_s` is the stream's own timestamp (seconds); after a live reconnect it keeps
    counting from where the stream dropped plus the time it was away. `arrived` is the
    `time.perf_counter()` moment the frame was decoded (for latency measurements).
    """

    index: int
    time_s: float
    pixels: np.ndarray
    arrived: float


def classify_source(source: str) -> SourceKind:
    """Tell a file path, a stream URL and a camera device (0, /dev/video0) apart."""
    text = source.strip()
    if not text:
        raise VideoError(repr(source), "empty video source")
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() not in LIVE_SCHEMES:
            raise VideoError(
                text, f"unsupported stream scheme {scheme!r}; use one of {', '.join(LIVE_SCHEMES)}"
            )
        return SourceKind("stream", text)
    camera = CAMERA_PATTERN.match(text)
    if camera:
        index = int(camera.group(1) or camera.group(2))
        return SourceKind("camera", text, camera_index=index)
    path = Path(text).expanduser()
    if not path.exists():
        raise VideoError(text, "no such video file")
    if not path.is_file():
        raise VideoError(text, "not a file (give a video file, a stream URL or a camera number)")
    _refuse_still_image(path, text)
    return SourceKind("file", str(path))


def _refuse_still_image(path: Path, label: str) -> None:
    """VideoError when the file is a still image (one frame is no deployment)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise VideoError(label, f"cannot read the file ({error.strerror})") from error
    still = sniff_format(head)
    if still is not None and still != "gif":  # an animated GIF is a (tiny) video
        raise VideoError(
            label,
            f"is a still {still.upper()} image, not a video; search a photo with"
            " `facetrail search`, or give a video file, stream URL or camera",
        )


class _Opened:
    """One open connection to a source: yields (time_s or None, BGR pixels)."""

    fps: float
    width: int
    height: int
    duration_s: float | None
    corrupt_packets: int = 0  # damaged packets skipped on this connection

    def frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _PyAVConnection(_Opened):
    """A file or network stream decoded by PyAV."""

    def __init__(self, kind: SourceKind, policy: ReconnectPolicy) -> None:
        options: dict[str, str] = {}
        if kind.target.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"
        timeout: Any = (policy.open_timeout_s, policy.read_timeout_s) if kind.live else None
        try:
            self.container = av.open(kind.target, mode="r", options=options, timeout=timeout)
        except av.error.FFmpegError as error:
            raise VideoError(kind.target, f"cannot open: {_ffmpeg_reason(error)}") from error
        except OSError as error:
            raise VideoError(kind.target, f"cannot open: {error}") from error
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(kind.target, "has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else DEFAULT_FPS
        self.width = int(self.stream.codec_context.width or 0)
        self.height = int(self.stream.codec_context.height or 0)
        duration = self.container.duration
        self.duration_s = duration / av.time_base if duration and duration > 0 else None
        self.source = kind.target

    def frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """Decoded frames; a damaged packet is skipped and counted in `corrupt_packets`."""
        consecutive = 0
        try:
            for packet in self.container.demux(self.stream):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as error:
                    self.corrupt_packets += 1
                    consecutive += 1
                    if consecutive > MAX_CONSECUTIVE_CORRUPT_PACKETS:
                        raise VideoError(
                            self.source,
                            f"{consecutive} damaged packets in a row ({_ffmpeg_reason(error)});"
                            " the video is corrupt",
                        ) from error
                    continue
                consecutive = 0
                for frame in decoded:
                    moment = frame.time
                    yield (
                        (float(moment) if moment is not None else None),
                        frame.to_ndarray(format="bgr24"),
                    )
        except av.error.FFmpegError as error:
            raise VideoError(self.source, f"read failed: {_ffmpeg_reason(error)}") from error

    def close(self) -> None:
        self.container.close()


class _CameraConnection(_Opened):
    """A local camera device read by OpenCV (V4L2)."""

    def __init__(self, kind: SourceKind) -> None:
        assert kind.camera_index is not None
        self.capture = cv2.VideoCapture(kind.camera_index, cv2.CAP_V4L2)
        if not self.capture.isOpened():
            self.capture.release()
            raise VideoError(
                kind.target,
                f"cannot open camera device /dev/video{kind.camera_index}"
                " (is it connected, and may this user read it?)",
            )
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_FPS
        self.width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.duration_s = None
        self.source = kind.target

    def frames(self) -> Iterator[tuple[float | None, np.ndarray]]:
        while True:
            ok, pixels = self.capture.read()
            if not ok:
                raise VideoError(self.source, "camera stopped delivering frames")
            millis = self.capture.get(cv2.CAP_PROP_POS_MSEC)
            yield (millis / 1000.0 if millis > 0 else None), pixels

    def close(self) -> None:
        self.capture.release()


def _ffmpeg_reason(error: Exception) -> str:
    strerror = getattr(error, "strerror", None)
    return str(strerror or error)


def _connect(kind: SourceKind, policy: ReconnectPolicy) -> _Opened:
    if kind.kind == "camera":
        return _CameraConnection(kind)
    return _PyAVConnection(kind, policy)


class VideoSource:
    """Frames of one source, in order, with reconnection of live sources.

    Use as an iterator (`for frame in source.frames()`); `stride` keeps every n-th
    decoded frame (frame indices stay those of the stream). `pace` delivers a file's
    frames at their own timestamps, as a camera would (for demos and latency
    measurements), dropping frames when the consumer falls behind. `reconnects` counts the
    live reopenings; `dropped` counts live frames discarded because the consumer fell
    behind (files are never dropped: the decoder waits instead).
    """

    def __init__(
        self,
        source: str,
        *,
        policy: ReconnectPolicy | None = None,
        stride: int = 1,
        pace: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if stride < 1:
            raise InvalidInputError(f"frame stride must be at least 1, got {stride}")
        self.kind = classify_source(source)
        self.policy = policy or ReconnectPolicy()
        self.stride = stride
        self.pace = pace
        self._sleep = sleep
        self._connection: _Opened | None = _connect(self.kind, self.policy)
        self.fps = self._connection.fps
        self.width = self._connection.width
        self.height = self._connection.height
        self.duration_s = self._connection.duration_s
        self.reconnects = 0
        self.dropped = 0
        self.corrupt_packets_before = 0  # of connections already closed
        self.gave_up: str | None = None
        self._stop = threading.Event()

    @property
    def live(self) -> bool:
        return self.kind.live

    @property
    def corrupt_packets(self) -> int:
        """Damaged packets skipped so far (a file's, or every live connection's)."""
        current = self._connection.corrupt_packets if self._connection is not None else 0
        return self.corrupt_packets_before + current

    def stop(self) -> None:
        """Ask the decoder to stop (the frame iterator then ends)."""
        self._stop.set()

    def frames(self) -> Iterator[VideoFrame]:
        """Decoded frames, prefetched on a background thread."""
        buffer: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH_FRAMES)
        worker = threading.Thread(
            target=self._decode_into, args=(buffer,), name="video-decode", daemon=True
        )
        worker.start()
        try:
            while True:
                item = buffer.get()
                if item is _STOP:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while worker.is_alive():
                try:
                    buffer.get_nowait()
                except queue.Empty:
                    worker.join(timeout=0.05)

    def _put(self, buffer: queue.Queue[Any], frame: VideoFrame) -> None:
        if not (self.live or self.pace):
            while not self._stop.is_set():
                try:
                    buffer.put(frame, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        # A live source keeps the newest frames: falling behind drops the oldest.
        while True:
            try:
                buffer.put_nowait(frame)
                return
            except queue.Full:
                try:
                    buffer.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _decode_into(self, buffer: queue.Queue[Any]) -> None:
        origin: tuple[float, float] | None = None  # (first frame time, wall clock then)
        try:
            for frame in self._decoded():
                if self._stop.is_set():
                    break
                if self.pace:
                    if origin is None:
                        origin = (frame.time_s, time.perf_counter())
                    due = origin[1] + frame.time_s - origin[0]
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    frame = replace(frame, arrived=time.perf_counter())
                self._put(buffer, frame)
        except BaseException as error:  # handed to the consumer thread
            buffer.put(error)
            return
        finally:
            if self._connection is not None:
                self.corrupt_packets_before += self._connection.corrupt_packets
                self._connection.close()
                self._connection = None
        buffer.put(_STOP)

    def _decoded(self) -> Iterator[VideoFrame]:
        """Every kept frame, reconnecting a dropped live source."""
        index = 0
        offset = 0.0  # added to a connection's timestamps to keep time running on
        last_time: float | None = None
        last_wall = time.perf_counter()
        first_of_connection: float | None = None
        while not self._stop.is_set():
            connection = self._connection
            assert connection is not None
            error: VideoError | None = None
            try:
                for stamp, pixels in connection.frames():
                    if self._stop.is_set():
                        return
                    if stamp is None:
                        stamp = index / connection.fps
                    if first_of_connection is None and last_time is not None:
                        # First frame after a reconnect: continue from the drop.
                        gap = time.perf_counter() - last_wall
                        offset = last_time + max(gap, 1.0 / connection.fps) - stamp
                    if first_of_connection is None:
                        first_of_connection = stamp
                    moment = stamp + offset
                    last_time, last_wall = moment, time.perf_counter()
                    if index % self.stride == 0:
                        yield VideoFrame(index, moment, pixels, last_wall)
                    index += 1
            except VideoError as failure:
                error = failure
            if not self.live or self._ended(connection, last_time, offset):
                if error is not None and not self.live:
                    raise error
                return
            self._check_frames_arrive(last_wall, error)
            self.corrupt_packets_before += connection.corrupt_packets
            connection.close()
            self._connection = None
            first_of_connection = None
            self._connection = self._reconnect(error)
            if self._connection is None:
                return

    def _check_frames_arrive(self, last_frame_wall: float, cause: VideoError | None) -> None:
        """VideoError when the live source has given no frame within the policy's bound."""
        silent = time.perf_counter() - last_frame_wall
        if silent < self.policy.first_frame_timeout_s:
            return
        reason = cause.reason if cause else "the stream opens but sends no video"
        raise VideoError(
            self.kind.target,
            f"no frame received for {silent:.0f} s ({self.reconnects} reconnections; {reason});"
            " check the camera or stream",
        )

    def _ended(self, connection: _Opened, last_time: float | None, offset: float) -> bool:
        """A live source with a known duration that was played to its end has ended."""
        if connection.duration_s is None or last_time is None:
            return False
        return last_time - offset >= connection.duration_s - END_TOLERANCE_S

    def _reconnect(self, cause: VideoError | None) -> _Opened | None:
        """Reopen the live source with back-off; None (and `gave_up`) when it stays down."""
        last_reason = cause.reason if cause else "stream ended"
        for delay in self.policy.delays():
            if self._stop.is_set():
                return None
            self._sleep(delay)
            try:
                connection = _connect(self.kind, self.policy)
            except VideoError as failure:
                last_reason = failure.reason
                continue
            self.reconnects += 1
            return connection
        self.gave_up = (
            f"gave up after {self.policy.max_attempts} reconnection attempts: {last_reason}"
        )
        return None
