"""A live HTTP stream from a real server process on 127.0.0.1, which drops and is reconnected.

The server (this file run as a script) streams the hamilton clip as MPEG-TS (H.264) at
twice real time, like an IP camera's HTTP output; it cuts its first connection part-way,
and answers later connections from where the stream had got to, as a live source does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

import facetrail
from facetrail.media.video import ReconnectPolicy
from facetrail.services.live import WatchRequest
from facetrail.services.live_results import AlertEvent

TS_PACKET = 188
CHUNK_PACKETS = 20
SPEED = 2.0  # stream at twice real time to keep the test short
DROP_AT = 0.4  # share of the stream after which the first connection is cut
KEYFRAME_EVERY = 15  # frames: a reconnecting decoder resumes within half a second
SERVER_START_TIMEOUT_S = 10.0


def encode_transport_stream(clip: Path, target: Path) -> float:
    """Re-encode the clip's video as MPEG-TS H.264; returns its duration in seconds."""
    with av.open(str(clip)) as source, av.open(str(target), "w", format="mpegts") as output:
        video = source.streams.video[0]
        stream = output.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height = video.codec_context.width, video.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(KEYFRAME_EVERY)}
        frames = 0
        for frame in source.decode(video):
            frame.pts, frame.time_base = frames, Fraction(1, 1) / video.average_rate
            for packet in stream.encode(frame):
                output.mux(packet)
            frames += 1
        for packet in stream.encode():
            output.mux(packet)
    return frames / float(video.average_rate)


def serve(stream_file: Path, duration_s: float) -> None:
    """Serve /live.ts until killed; print the port, then one line per connection."""
    data = stream_file.read_bytes()
    bytes_per_s = len(data) / duration_s * SPEED
    state = {"position": 0, "connections": 0}
    drop_at = int(len(data) * DROP_AT) // TS_PACKET * TS_PACKET

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/live.ts" or state["position"] >= len(data):
                self.send_error(404, "stream over")
                return
            state["connections"] += 1
            number = state["connections"]
            print(f"connection {number} from byte {state['position']}", flush=True)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            started, sent = time.monotonic(), 0
            chunk = TS_PACKET * CHUNK_PACKETS
            while state["position"] < len(data):
                if number == 1 and state["position"] >= drop_at:
                    print("dropping connection 1", flush=True)
                    self.connection.close()  # the stream drops mid-way
                    return
                piece = data[state["position"] : state["position"] + chunk]
                try:
                    self.wfile.write(piece)
                except OSError:
                    return
                state["position"] += len(piece)
                sent += len(piece)
                ahead = sent / bytes_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


@pytest.fixture
def stream_server(tmp_path: Path, shared_data: Path):  # type: ignore[no-untyped-def]
    """The server process and its URL; killed after the test."""
    stream_file = tmp_path / "live.ts"
    duration = encode_transport_stream(shared_data / "video/short_hamilton_clip.mp4", stream_file)
    process = subprocess.Popen(
        [sys.executable, __file__, str(stream_file), str(duration)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("port "), process.stderr.read() if process.stderr else first
        yield process, f"http://127.0.0.1:{int(first.split()[1])}/live.ts"
    finally:
        process.kill()
        process.wait(timeout=10)


def test_http_stream_is_processed_and_reconnected_after_a_drop(
    stream_server, tmp_path: Path, shared_data: Path
) -> None:
    process, url = stream_server
    app = facetrail.open(tmp_path / "home")
    try:
        app.enrol(shared_data / "video/references", gallery="watch", legal_basis="test")
        auth = app.authorise(
            purpose="p",
            case="c",
            legal_basis="l",
            necessity="n",
            proportionality="p",
            officer="o",
            rank="Superintendent",  # live deployments need Superintendent or above
            galleries=["watch"],
            kind="live_deployment",
        ).id
        app.watchlists.create("stream", gallery="watch", reason="test")
        policy = ReconnectPolicy(initial_delay_s=0.2, max_delay_s=0.4, max_attempts=3)
        runner = app.deployments.runner(
            WatchRequest(source=url, watchlist="stream", authorisation=auth, reconnect=policy)
        )
        runner.start()
        alerts: list[AlertEvent] = []
        summary = runner.run(on_alert=alerts.append)
    finally:
        app.close()
    process.kill()
    log = process.communicate(timeout=10)[0]
    assert "dropping connection 1" in log and "connection 2 from byte" in log
    assert summary.reconnects >= 1
    assert summary.status == "ended" and "gave up after 3 reconnection attempts" in (
        summary.status_detail
    )
    assert summary.frames >= 138 * 0.5  # frames from both connections were analysed
    assert "Lin_Manuel_Miranda" in [a.subject for a in alerts]
    later = [a for a in alerts if a.time_s > 4.0]
    assert later, "the stream after the reconnection raised its own alerts"
    times = [a.time_s for a in alerts]
    assert times == sorted(times) and max(times) < 12.0  # time runs on across the drop


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(sys.argv[2]))
