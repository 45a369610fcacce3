"""Running a live deployment: detect, track, embed the best frames, search, alert.

Design (measured on the 2-core machine, benchmarks/live.py):
- every kept frame is detected (YuNet) and tracked (ByteTrack, media/tracking.py);
- a track is embedded only when it shows a face of better quality than before (at most
  MAX_SEARCHES_PER_TRACK times), and searched with the mean template of its best
  BEST_FRAMES_PER_TRACK frames; it raises at most one alert;
- a scene cut ends every track, and a track whose new frame looks like someone else
  (score to its own mean under the calibration's linking score) is split in two;
- faces that match nothing live only in memory while their track is followed: no crop,
  no template, no log line; the deployment keeps counts only.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from sqlalchemy.orm import selectinload

from facetrail.biometrics.alignment import REFERENCE_LANDMARKS
from facetrail.biometrics.calibration import Calibration
from facetrail.biometrics.detector import YUNET_SCORE_THRESHOLD, YuNetDetector
from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.core.access import OPERATOR, declare, requires
from facetrail.core.audit import append_audit
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import AuthorisationError, FacetrailError, InvalidInputError
from facetrail.evaluation.watchlist import scaled_fpir
from facetrail.media.tracking import FaceTracker, SceneCutDetector, TrackerConfig
from facetrail.media.video import ReconnectPolicy, VideoFrame, VideoSource
from facetrail.services.authorisations import check_covers
from facetrail.services.crop_retention import purge_expired_crops
from facetrail.services.live_results import (
    AlertEvent,
    DeploymentStart,
    DeploymentSummary,
    FalseAlertEstimate,
)
from facetrail.services.watchlist_versions import (
    FrozenTemplates,
    WatchlistFreezer,
    crop_face,
    template_count,
    watchlist_by_name,
)
from facetrail.store.live_models import Alert, Deployment
from facetrail.store.models import Authorisation, Gallery
from facetrail.store.types import utcnow

WATCH = declare(
    "watch", "run a live deployment against a watchlist (under an authorisation)", (OPERATOR,)
)


# Detections down to this YuNet score keep existing tracks alive (ByteTrack's second
# stage); only those at the engine's own cut (0.7) start tracks or are searched.
LOW_DETECTION_SCORE = 0.5
# Quality gate: a face below this overall quality (0-100, biometrics/quality.py) is not
# searched. Measured on the hamilton clip: every face a person could recognise scores
# at least 8 (Obama's three-quarter view 8-12); motion-blurred slivers score 3-5.
MIN_SEARCH_QUALITY = 6.0
QUALITY_STEP = 10.0  # a track is searched again when its face is this much better
MAX_SEARCHES_PER_TRACK = 6
BEST_FRAMES_PER_TRACK = 3
# SFace cosines: same person 0.66 +- 0.11, different people 0.08 +- 0.09 (calibration);
# under 0.2 the new face is almost surely not the person the track followed so far.
DEFAULT_CROP_RETENTION_DAYS = 31
MAX_CROP_RETENTION_DAYS = 366
DEFAULT_STRIDE = 2  # detect every 2nd frame: 15 detections/s at 30 fps, faces move little


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """What a deployment runs on, against what, under which authorisation."""

    source: str
    watchlist: str
    authorisation: int
    threshold: float | None = None  # None: the pipeline's calibrated threshold
    place: str = ""
    stride: int = DEFAULT_STRIDE
    crop_retention_days: int = DEFAULT_CROP_RETENTION_DAYS
    max_frames: int | None = None
    max_seconds: float | None = None
    pace: bool = False  # deliver a file's frames at their own timestamps, as a camera would
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    # Why a threshold below the calibrated 1:1 threshold is used (audited); without it, such
    # a threshold is refused: it alerts on bystanders and stores their crops.
    below_calibrated_reason: str | None = None


def check_watch_request(request: WatchRequest) -> None:
    """InvalidInputError naming the first numeric option out of its range."""
    if request.stride < 1:
        raise InvalidInputError(f"--stride must be at least 1, got {request.stride}")
    if not 1 <= request.crop_retention_days <= MAX_CROP_RETENTION_DAYS:
        raise InvalidInputError(
            f"--crop-retention-days must be 1-{MAX_CROP_RETENTION_DAYS},"
            f" got {request.crop_retention_days}"
        )
    if request.max_frames is not None and request.max_frames < 1:
        raise InvalidInputError(
            f"--max-frames must be at least 1 (leave it out for no limit), got {request.max_frames}"
        )
    if request.max_seconds is not None and not (
        math.isfinite(request.max_seconds) and request.max_seconds > 0
    ):
        raise InvalidInputError(
            "--max-seconds must be a positive number of seconds (leave it out for no limit),"
            f" got {request.max_seconds}"
        )
    if request.threshold is not None and not math.isfinite(request.threshold):
        raise InvalidInputError(
            f"--threshold must be a finite similarity score (or 'auto'), got {request.threshold}"
        )
    reason = request.below_calibrated_reason
    if reason is not None and not reason.strip():
        raise InvalidInputError("--below-calibrated-threshold needs --reason TEXT saying why")


def operator_threshold(request: WatchRequest, calibration: Calibration) -> tuple[float, str]:
    """The operator's threshold and how it is described; below calibrated needs a reason."""
    assert request.threshold is not None
    threshold, calibrated = float(request.threshold), calibration.threshold
    if threshold >= calibrated:
        return threshold, "set by the operator"
    if request.below_calibrated_reason is None:
        raise InvalidInputError(
            f"--threshold {threshold:g} is below the calibrated 1:1 threshold {calibrated:.3f}"
            f" of {calibration.spec}: it alerts on bystanders and keeps their face crops."
            " Use the calibrated threshold ('auto') or a higher one, or pass"
            " --below-calibrated-threshold --reason TEXT (recorded in the audit)"
        )
    return threshold, (
        f"set by the operator BELOW the calibrated {calibrated:.3f}:"
        f" {request.below_calibrated_reason.strip()}"
    )


@dataclass(slots=True)
class _TrackState:
    """A followed face while it is in view: memory only, dropped when the track ends."""

    track: int
    best: list[tuple[float, dict[str, np.ndarray]]] = field(default_factory=list)
    best_quality: float = -1.0
    searches: int = 0
    alerted: bool = False

    def mean_template(self, models: tuple[str, ...]) -> dict[str, np.ndarray]:
        out = {}
        for model in models:
            stacked = np.mean([t[model] for _, t in self.best], axis=0)
            out[model] = (stacked / max(float(np.linalg.norm(stacked)), 1e-12)).astype(np.float32)
        return out

    def add(self, quality: float, templates: dict[str, np.ndarray]) -> None:
        self.best.append((quality, templates))
        self.best.sort(key=lambda item: -item[0])
        del self.best[BEST_FRAMES_PER_TRACK:]
        self.best_quality = max(self.best_quality, quality)
        self.searches += 1


def fmr_at_threshold(calibration: Calibration, threshold: float) -> tuple[float, str]:
    """FMR per comparison at `threshold`, log-interpolated between calibrated points."""
    points = sorted((t, float(f)) for f, t in calibration.fmr_thresholds.items())
    if not points:
        raise InvalidInputError(f"calibration of {calibration.spec} has no FMR thresholds")
    if threshold <= points[0][0]:
        return points[0][1], f"at least (threshold at or below the FMR {points[0][1]:g} point)"
    if threshold >= points[-1][0]:
        return points[-1][1], f"at most (threshold at or above the FMR {points[-1][1]:g} point)"
    for (t0, f0), (t1, f1) in itertools.pairwise(points):
        if t0 <= threshold <= t1:
            share = (threshold - t0) / (t1 - t0) if t1 > t0 else 0.0
            log_fmr = math.log10(f0) + share * (math.log10(f1) - math.log10(f0))
            return 10**log_fmr, "interpolated"
    return points[-1][1], "interpolated"


def estimate_false_alerts(
    calibration: Calibration, threshold: float, watchlist_size: int
) -> FalseAlertEstimate:
    """Expected false alerts per face scanned: a stored FPIR calibration's, else FMR x size."""
    target = calibration.results.get("target") or {}
    measured = calibration.results.get("fpir")
    if target.get("kind") == "fpir" and measured is not None and threshold == calibration.threshold:
        gallery_size = calibration.results.get("gallery_size")
        return FalseAlertEstimate(
            threshold=threshold,
            fmr_per_comparison=float(measured) / max(int(gallery_size or 1), 1),
            watchlist_size=watchlist_size,
            per_face=float(measured),
            per_1000_faces=float(measured) * 1000,
            method=(
                f"FPIR measured by the identification protocol on {calibration.dataset}"
                f" ({calibration.measured_at}) with a gallery of {gallery_size}: the share of"
                " searches of people not enrolled that returned a candidate at the threshold"
            ),
        )
    fmr, how = fmr_at_threshold(calibration, threshold)
    per_face = scaled_fpir(fmr, watchlist_size)
    return FalseAlertEstimate(
        threshold=threshold,
        fmr_per_comparison=fmr,
        watchlist_size=watchlist_size,
        per_face=per_face,
        per_1000_faces=per_face * 1000,
        method=(
            f"FMR per comparison ({how}) from the {calibration.spec} calibration on"
            f" {calibration.dataset} ({calibration.measured_at}) x {watchlist_size} watchlist"
            " subjects, as 1 - (1 - FMR)^N per face searched once (no watchlist-protocol"
            " calibration is stored)"
        ),
    )


def live_analyzer(spec: str, calibration: Calibration) -> FaceAnalyzer:
    """The pipeline's analyzer with its detector keeping low-score faces for tracking.

    Video frames get the bare detector: the photo retries (biometrics/retry.py) would
    cost a second pass on every empty frame.
    """
    analyzer = FaceAnalyzer.from_spec(spec, calibration)
    bare = getattr(analyzer.detector, "inner", analyzer.detector)
    analyzer.detector = (
        YuNetDetector(score_threshold=LOW_DETECTION_SCORE)
        if isinstance(bare, YuNetDetector)
        else bare
    )
    return analyzer.load()


def warm_up(analyzer: FaceAnalyzer, width: int, height: int) -> None:
    """Run each model once on a blank frame of the source's size.

    The first detection at a new input size and the first embedding allocate their
    buffers (about 100 ms here); done before the first frame, no alert waits for it.
    """
    blank = np.zeros((max(height, 1), max(width, 1), 3), np.uint8)
    analyzer.detect(blank)
    side = min(blank.shape[:2]) / 2
    landmarks = (REFERENCE_LANDMARKS * side / 112.0).astype(np.float32)
    face = Face(box=(0.0, 0.0, side, side), landmarks=landmarks, detector_score=1.0)
    analyzer.embed(blank, face)


class DeploymentRunner:
    """One deployment: `start()` checks, freezes and records it; `run()` processes the source."""

    def __init__(self, kernel: Kernel, context: Context, request: WatchRequest) -> None:
        self.kernel = kernel
        self.context = context
        self.request = request
        self.crops = kernel.alert_crops
        self._stop = threading.Event()
        self.latencies_ms: list[float] = []
        self.deployment_id: int | None = None
        self.source: VideoSource | None = None
        self.frozen: FrozenTemplates | None = None
        self.analyzer: FaceAnalyzer | None = None
        self.threshold = 0.0
        self.faces_searched = 0

    def stop(self) -> None:
        """Ask a running deployment to finish after the current frame."""
        self._stop.set()
        if self.source is not None:
            self.source.stop()

    # -- start -----------------------------------------------------------------------

    def start(self) -> DeploymentStart:
        """Check the authorisation, open the source, freeze the watchlist, record the start."""
        request = self.request
        check_watch_request(request)
        gallery_name = None
        try:
            with self.kernel.database.reader() as session:
                watchlist = watchlist_by_name(session, request.watchlist)
                gallery = session.get(Gallery, watchlist.gallery_id)
                assert gallery is not None
                gallery_name = gallery.name
                record = session.get(
                    Authorisation,
                    request.authorisation,
                    options=[selectinload(Authorisation.galleries)],
                )
                check_covers(
                    record,
                    authorisation_id=request.authorisation,
                    kind="live_deployment",
                    gallery=gallery.name,
                    actor=self.context.actor if self.context.signed_in else None,
                    watchlist=watchlist.name,
                )
                pipeline = gallery.pipeline
            # The calibration search and verify use (stored by `calibrate`, else packaged).
            calibration = self.kernel.analyzers.get(pipeline).calibration
            self.analyzer = live_analyzer(pipeline, calibration)
            if request.threshold is None:
                self.threshold = calibration.threshold
                threshold_source = (
                    f"calibrated ({calibration.spec} on {calibration.dataset},"
                    f" {calibration.measured_at})"
                )
            else:
                self.threshold, threshold_source = operator_threshold(request, calibration)
            self.source = VideoSource(
                request.source, policy=request.reconnect, stride=request.stride, pace=request.pace
            )
            warm_up(self.analyzer, self.source.width, self.source.height)
            purge_expired_crops(self.kernel, self.context)
            return self._record_start(gallery_name, calibration, threshold_source)
        except FacetrailError as error:
            outcome = "refused" if isinstance(error, AuthorisationError) else "failed"
            if self.source is not None:
                self.source.stop()
            with self.kernel.database.transaction() as session:
                append_audit(
                    session,
                    actor=self.context.actor,
                    action="live.deployment.start",
                    outcome=outcome,
                    gallery=gallery_name,
                    authorisation_id=request.authorisation,
                    target=request.watchlist,
                    details={"reason": str(error), "source": request.source},
                )
            raise

    def _record_start(
        self, gallery_name: str, calibration: Calibration, threshold_source: str
    ) -> DeploymentStart:
        request, analyzer = self.request, self.analyzer
        assert analyzer is not None
        watchlists = WatchlistFreezer(self.kernel)
        with self.kernel.database.transaction() as session:
            watchlist = watchlist_by_name(session, request.watchlist)
            frozen = watchlists.freeze(self.context, session, watchlist, analyzer)
            frozen.templates = template_count(session, frozen.version_id)
            estimate = estimate_false_alerts(calibration, self.threshold, frozen.entries)
            deployment = Deployment(
                watchlist_id=watchlist.id,
                watchlist_version=frozen.version,
                watchlist_version_id=frozen.version_id,
                watchlist_name=watchlist.name,
                watchlist_size=frozen.entries,
                authorisation_id=request.authorisation,
                source=request.source,
                place=request.place.strip(),
                pipeline=str(analyzer.spec),
                threshold=self.threshold,
                threshold_source=threshold_source,
                expected_false_alerts_per_face=estimate.per_face,
                frame_stride=request.stride,
                crop_retention_days=request.crop_retention_days,
                started_by=self.context.actor,
                started_at=utcnow(),
                status="running",
            )
            session.add(deployment)
            session.flush()
            append_audit(
                session,
                actor=self.context.actor,
                action="live.deployment.start",
                outcome="ok",
                gallery=gallery_name,
                authorisation_id=request.authorisation,
                target=str(deployment.id),
                details={
                    "deployment": deployment.id,
                    "source": request.source,
                    "place": deployment.place,
                    "watchlist": watchlist.name,
                    "watchlist_version": frozen.version,
                    "watchlist_size": frozen.entries,
                    "excluded": [e.model_dump() for e in frozen.excluded],
                    "threshold": round(self.threshold, 6),
                    "threshold_source": threshold_source,
                    "below_calibrated_threshold": self.threshold < calibration.threshold,
                    "calibrated_threshold": round(calibration.threshold, 6),
                    "expected_false_alerts_per_face": estimate.per_face,
                    "frame_stride": request.stride,
                    "crop_retention_days": request.crop_retention_days,
                },
            )
            self.deployment_id = deployment.id
        self.frozen = watchlists.load(frozen.version_id, analyzer)
        return DeploymentStart(
            deployment_id=deployment.id,
            source=request.source,
            place=deployment.place,
            watchlist=frozen,
            threshold=self.threshold,
            threshold_source=threshold_source,
            estimate=estimate,
            frame_stride=request.stride,
            authorisation=request.authorisation,
        )

    # -- run -------------------------------------------------------------------------

    def run(self, on_alert: Callable[[AlertEvent], None] | None = None) -> DeploymentSummary:
        """Process the source until it ends, a limit is reached or `stop()`; record the end."""
        source, analyzer, frozen = self.source, self.analyzer, self.frozen
        assert source is not None and analyzer is not None and frozen is not None
        tracker = FaceTracker(TrackerConfig(low_score=LOW_DETECTION_SCORE))
        cuts = SceneCutDetector()
        states: dict[int, _TrackState] = {}
        counts = {"frames": 0, "faces": 0, "alerts": 0}
        first_time: float | None = None
        last_time = 0.0
        status, detail = "ended", "source ended"
        unexpected: BaseException | None = None
        started = time.perf_counter()
        try:
            for frame in source.frames():
                if first_time is None:
                    first_time = frame.time_s
                last_time = frame.time_s
                counts["frames"] += 1
                if cuts.is_cut(frame.pixels):
                    for cut_track in tracker.reset():
                        states.pop(cut_track, None)
                faces = analyzer.detect(frame.pixels)
                update = tracker.update(
                    frame.index, [f.box for f in faces], [f.detector_score for f in faces]
                )
                counts["faces"] += sum(
                    1 for f in faces if f.detector_score >= YUNET_SCORE_THRESHOLD
                )
                for ended in update.ended:
                    states.pop(ended, None)  # decided: alerted, or matched nothing
                for face, track in zip(faces, update.track_ids, strict=True):
                    if track is not None:
                        self._consider(frame, face, track, tracker, states, counts, on_alert)
                if self._stop.is_set():
                    status, detail = "ended", "stopped by the operator"
                    break
                if self.request.max_frames and counts["frames"] >= self.request.max_frames:
                    status, detail = "ended", f"frame limit {self.request.max_frames} reached"
                    break
                if (
                    self.request.max_seconds
                    and time.perf_counter() - started >= self.request.max_seconds
                ):
                    status, detail = "ended", f"time limit {self.request.max_seconds} s reached"
                    break
            else:
                if source.gave_up:
                    detail = source.gave_up
        except KeyboardInterrupt:
            status, detail = "ended", "interrupted by the operator"
        except FacetrailError as error:
            status, detail = "failed", str(error)
        except BaseException as error:  # record the end of the deployment, then let it go on
            status, detail = "failed", f"{type(error).__name__}: {error}"
            unexpected = error
        finally:
            source.stop()
            states.clear()
        wall = time.perf_counter() - started
        frames_span = (last_time - first_time) if first_time is not None else 0.0
        duration = frames_span + (source.stride / source.fps if counts["frames"] else 0.0)
        summary = DeploymentSummary(
            faces_processed=counts["faces"],
            tracks=tracker.confirmed_count,
            alerts=counts["alerts"],
            frames=counts["frames"],
            duration_s=round(duration, 3),
            processing_fps=round(counts["frames"] / wall, 2) if wall > 0 else 0.0,
            realtime_factor=round(duration / wall, 3) if wall > 0 else 0.0,
            reconnects=source.reconnects,
            frames_dropped=source.dropped,
            corrupt_packets_skipped=source.corrupt_packets,
            status=status,
            status_detail=detail,
            deployment_id=self.deployment_id or 0,
        )
        self._record_end(summary)
        if unexpected is not None:
            raise unexpected
        if status == "failed":
            raise FacetrailError(f"deployment {self.deployment_id} failed: {detail}")
        return summary

    def _consider(
        self,
        frame: VideoFrame,
        face: Face,
        track: int,
        tracker: FaceTracker,
        states: dict[int, _TrackState],
        counts: dict[str, int],
        on_alert: Callable[[AlertEvent], None] | None,
    ) -> None:
        """Search a track with this face if it is among the track's best; alert on a match."""
        analyzer, frozen = self.analyzer, self.frozen
        assert analyzer is not None and frozen is not None
        state = states.setdefault(track, _TrackState(track))
        quality = face.quality.score if face.quality else 0.0
        if (
            state.alerted
            or face.detector_score < YUNET_SCORE_THRESHOLD
            or quality < MIN_SEARCH_QUALITY
        ):
            return
        if state.searches >= MAX_SEARCHES_PER_TRACK:
            return
        if state.best and quality < state.best_quality + QUALITY_STEP:
            return
        embedded = analyzer.embed(frame.pixels, face)
        self.faces_searched += 1
        templates = {m: embedded.template(m) for m in analyzer.model_names}
        if state.best:
            own = state.mean_template(analyzer.model_names)
            similarity = analyzer.score_templates(
                {m: float(np.dot(own[m], templates[m])) for m in analyzer.model_names}
            )
            if similarity < self._same_track_score(analyzer):
                states.pop(track, None)
                track = tracker.split(track)
                state = states.setdefault(track, _TrackState(track))
        state.add(quality, templates)
        row, score = frozen.best(analyzer, state.mean_template(analyzer.model_names))
        if row < 0 or score < self.threshold:
            return
        state.alerted = True
        counts["alerts"] += 1
        event = self._raise_alert(frame, face, track, row, score, quality)
        if on_alert is not None:
            on_alert(event)

    def _same_track_score(self, analyzer: FaceAnalyzer) -> float:
        """The pipeline score above which a face may continue a track (from the calibration)."""
        return analyzer.score_templates(analyzer.calibration.linking_scores())

    def _raise_alert(
        self, frame: VideoFrame, face: Face, track: int, row: int, score: float, quality: float
    ) -> AlertEvent:
        """Keep the live crop (sealed) and the alert, audited, in one transaction."""
        frozen = self.frozen
        assert frozen is not None and self.deployment_id is not None
        data = crop_face(frame.pixels, face.box)
        sha = hashlib.sha256(data).hexdigest()
        path = self.crops.write(self.deployment_id, sha, "jpg", data)
        now = utcnow()
        try:
            with self.kernel.database.transaction() as session:
                alert = Alert(
                    deployment_id=self.deployment_id,
                    subject_id=frozen.subject_ids[row],
                    subject_external_id=frozen.subjects[row],
                    score=round(score, 6),
                    threshold=self.threshold,
                    frame=frame.index,
                    time_s=round(frame.time_s, 3),
                    track=track,
                    quality=round(quality, 1),
                    created_at=now,
                    crop_path=self.crops.stored(path),
                    reference_path=frozen.references[row],
                    crop_retain_until=now + timedelta(days=self.request.crop_retention_days),
                )
                session.add(alert)
                session.flush()
                deployment = session.get(Deployment, self.deployment_id)
                assert deployment is not None
                deployment.alerts += 1
                append_audit(
                    session,
                    actor=self.context.actor,
                    action="live.alert",
                    outcome="ok",
                    authorisation_id=self.request.authorisation,
                    target=frozen.subjects[row],
                    details={
                        "deployment": self.deployment_id,
                        "alert": alert.id,
                        "score": round(score, 6),
                        "threshold": round(self.threshold, 6),
                        "frame": frame.index,
                        "time_s": round(frame.time_s, 3),
                        "track": track,
                        "crop_sha256": sha,
                    },
                )
        except BaseException:
            self.crops.delete(path)
            raise
        latency = (time.perf_counter() - frame.arrived) * 1000.0
        self.latencies_ms.append(latency)
        return AlertEvent(
            alert_id=alert.id,
            subject=frozen.subjects[row],
            score=round(score, 6),
            frame=frame.index,
            time_s=round(frame.time_s, 3),
            track=track,
            threshold=round(self.threshold, 6),
            quality=round(quality, 1),
            latency_ms=round(latency, 1),
        )

    def _record_end(self, summary: DeploymentSummary) -> None:
        with self.kernel.database.transaction() as session:
            deployment = session.get(Deployment, self.deployment_id)
            assert deployment is not None
            deployment.ended_at = utcnow()
            deployment.frames = summary.frames
            deployment.faces_processed = summary.faces_processed
            deployment.tracks = summary.tracks
            deployment.alerts = summary.alerts
            deployment.duration_s = summary.duration_s
            deployment.processing_fps = summary.processing_fps
            deployment.reconnects = summary.reconnects
            deployment.status = summary.status
            deployment.status_detail = summary.status_detail
            append_audit(
                session,
                actor=self.context.actor,
                action="live.deployment.stop",
                outcome="ok" if summary.status == "ended" else "failed",
                authorisation_id=self.request.authorisation,
                target=str(self.deployment_id),
                details={
                    "deployment": self.deployment_id,
                    "status_detail": summary.status_detail,
                    "frames": summary.frames,
                    "faces_processed": summary.faces_processed,
                    "faces_searched": self.faces_searched,
                    "tracks": summary.tracks,
                    "alerts": summary.alerts,
                    "duration_s": summary.duration_s,
                    "processing_fps": summary.processing_fps,
                    "reconnects": summary.reconnects,
                    "corrupt_packets_skipped": summary.corrupt_packets_skipped,
                },
            )


class Deployments:
    """Live deployments of one facetrail home."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(WATCH)
    def runner(self, context: Context, request: WatchRequest) -> DeploymentRunner:
        """A deployment for `request`, ready to `start()` (checked, frozen) and `run()`."""
        return DeploymentRunner(self.kernel, context, request)
