"""Following faces across frames: ByteTrack association with a Kalman box filter.

ByteTrack (Zhang et al., ECCV 2022) matches confident detections to predicted track
boxes first, then uses the leftover low-score detections to keep tracks alive through
blur and occlusion. It is implemented here on scipy's assignment solver because the
maintained packaged ByteTracks do not install beside facetrail's pins: supervision dropped
ByteTrack in 0.28 (moved to `trackers`), and `trackers` and supervision <= 0.27 require
`opencv-python`, which clashes with the pinned `opencv-python-headless` (the same `cv2`
module); norfair needs numpy < 2; bytetracker pins torch 1.13.

A scene cut ends every track (a face at the same place after a cut is someone else):
`SceneCutDetector` spots cuts from a small grey thumbnail of each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

# Kalman noise as ByteTrack sets it: position and velocity uncertainty proportional to the
# box height, so the filter behaves the same for near and far faces.
STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """ByteTrack's thresholds, set for face detection scores (YuNet keeps >= 0.7).

    high_score: detections at or above it are matched first and may start tracks.
    low_score: detections between it and high_score only keep existing tracks alive.
    first_match_iou / second_match_iou: least IoU with a predicted box to match.
    lost_frames: processed frames a track may go unseen before it ends.
    min_hits: matches before a track is confirmed (one-frame false faces never count).
    """

    high_score: float = 0.7
    low_score: float = 0.5
    first_match_iou: float = 0.2
    second_match_iou: float = 0.5
    lost_frames: int = 15
    min_hits: int = 2


class KalmanBoxFilter:
    """Constant-velocity Kalman filter over (centre x, centre y, aspect w/h, height)."""

    def __init__(self) -> None:
        self.motion = np.eye(8)
        for i in range(4):
            self.motion[i, 4 + i] = 1.0
        self.observation = np.eye(4, 8)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State mean and covariance of a new track from its first box."""
        mean = np.r_[measurement, np.zeros(4)]
        h = measurement[3]
        std = [
            2 * STD_WEIGHT_POSITION * h,
            2 * STD_WEIGHT_POSITION * h,
            1e-2,
            2 * STD_WEIGHT_POSITION * h,
            10 * STD_WEIGHT_VELOCITY * h,
            10 * STD_WEIGHT_VELOCITY * h,
            1e-5,
            10 * STD_WEIGHT_VELOCITY * h,
        ]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state one frame on."""
        h = mean[3]
        std = [STD_WEIGHT_POSITION * h] * 2 + [1e-2, STD_WEIGHT_POSITION * h]
        std += [STD_WEIGHT_VELOCITY * h] * 2 + [1e-5, STD_WEIGHT_VELOCITY * h]
        noise = np.diag(np.square(std))
        mean = self.motion @ mean
        covariance = self.motion @ covariance @ self.motion.T + noise
        return mean, covariance

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The state corrected by a matched box."""
        h = mean[3]
        std = [STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, 1e-1, STD_WEIGHT_POSITION * h]
        projected_cov = self.observation @ covariance @ self.observation.T + np.diag(np.square(std))
        gain = np.linalg.solve(projected_cov, (covariance @ self.observation.T).T).T
        innovation = measurement - self.observation @ mean
        mean = mean + gain @ innovation
        covariance = covariance - gain @ projected_cov @ gain.T
        return mean, covariance


def xywh_to_xyah(box: Sequence[float]) -> np.ndarray:
    """(x, y, w, h) -> (centre x, centre y, w/h, h)."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2, y + h / 2, w / max(h, 1e-6), h])


def xyah_to_xywh(state: np.ndarray) -> tuple[float, float, float, float]:
    """(centre x, centre y, w/h, h) -> (x, y, w, h)."""
    cx, cy, aspect, h = (float(v) for v in state[:4])
    w = aspect * h
    return (cx - w / 2, cy - h / 2, w, h)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) arrays of (x, y, w, h) boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[:, 0], b[:, 1]
    bx2, by2 = bx1 + b[:, 2], by1 + b[:, 3]
    width = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    height = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = width * height
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def match(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Optimal one-to-one (row, column) pairs with IoU of at least `min_iou`."""
    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(-iou)
    return [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]


@dataclass(slots=True)
class Track:
    """One followed face: its filter state and history (no pixels, no templates)."""

    id: int
    mean: np.ndarray
    covariance: np.ndarray
    score: float
    first_frame: int
    last_frame: int
    hits: int = 1
    confirmed: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The filtered (x, y, w, h) box."""
        return xyah_to_xywh(self.mean)


@dataclass(slots=True)
class TrackUpdate:
    """What one frame did: the confirmed track of each detection, and tracks that ended."""

    track_ids: list[int | None]
    started: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


class FaceTracker:
    """ByteTrack over face detections; ids are unique for the tracker's lifetime."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.kalman = KalmanBoxFilter()
        self.tracks: list[Track] = []
        self._next_id = 1
        self.confirmed_count = 0

    def _new_track(self, box: Sequence[float], score: float, frame: int) -> Track:
        mean, covariance = self.kalman.initiate(xywh_to_xyah(box))
        track = Track(self._next_id, mean, covariance, score, frame, frame)
        self._next_id += 1
        return track

    def update(
        self, frame: int, boxes: Sequence[Sequence[float]], scores: Sequence[float]
    ) -> TrackUpdate:
        """Associate this frame's detections (x, y, w, h boxes) with the tracks."""
        config = self.config
        boxes_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores_array = np.asarray(scores, dtype=np.float64).reshape(-1)
        assigned: list[Track | None] = [None] * len(boxes_array)
        for track in self.tracks:
            track.mean, track.covariance = self.kalman.predict(track.mean, track.covariance)
        predicted = np.array([t.box for t in self.tracks]).reshape(-1, 4)

        high = [i for i, s in enumerate(scores_array) if s >= config.high_score]
        low = [i for i, s in enumerate(scores_array) if config.low_score <= s < config.high_score]
        # Stage 1: confident detections against every track (confirmed ones preferred by IoU).
        pending = list(range(len(self.tracks)))
        iou = iou_matrix(predicted[pending], boxes_array[high])
        for row, col in match(iou, config.first_match_iou):
            assigned[high[col]] = self.tracks[pending[row]]
        matched = {id(t) for t in assigned if t is not None}
        # Stage 2: low-score detections keep unmatched confirmed tracks alive.
        rest = [
            i for i in pending if id(self.tracks[i]) not in matched and self.tracks[i].confirmed
        ]
        iou = iou_matrix(predicted[rest], boxes_array[low])
        for row, col in match(iou, config.second_match_iou):
            assigned[low[col]] = self.tracks[rest[row]]

        update = TrackUpdate(track_ids=[None] * len(boxes_array))
        for det, matched_track in enumerate(assigned):
            if matched_track is None:
                continue
            matched_track.mean, matched_track.covariance = self.kalman.update(
                matched_track.mean, matched_track.covariance, xywh_to_xyah(boxes_array[det])
            )
            matched_track.score, matched_track.last_frame = float(scores_array[det]), frame
            matched_track.hits += 1
            if not matched_track.confirmed and matched_track.hits >= config.min_hits:
                matched_track.confirmed = True
                self.confirmed_count += 1
                update.started.append(matched_track.id)
        # Unmatched confident detections start tracks.
        for det in high:
            if assigned[det] is None:
                track = self._new_track(boxes_array[det], float(scores_array[det]), frame)
                if config.min_hits <= 1:
                    track.confirmed = True
                    self.confirmed_count += 1
                    update.started.append(track.id)
                self.tracks.append(track)
                assigned[det] = track
        for det, found in enumerate(assigned):
            if found is not None and found.confirmed:
                update.track_ids[det] = found.id
        # Tracks unseen too long end; unconfirmed ones end at their first miss.
        kept = []
        for track in self.tracks:
            missed = frame - track.last_frame
            if track.confirmed and missed > config.lost_frames:
                update.ended.append(track.id)
            elif not track.confirmed and missed > 0:
                continue
            else:
                kept.append(track)
        self.tracks = kept
        return update

    def reset(self) -> list[int]:
        """End every track (a scene cut); returns the confirmed ids that ended."""
        ended = [t.id for t in self.tracks if t.confirmed]
        self.tracks = []
        return ended

    def split(self, track_id: int) -> int:
        """Give a track a new id (its face turned out to be someone else); the new id."""
        for track in self.tracks:
            if track.id == track_id:
                track.id = self._next_id
                self._next_id += 1
                if track.confirmed:
                    self.confirmed_count += 1
                return track.id
        raise KeyError(f"no active track {track_id}")

    def active(self) -> list[Track]:
        """The confirmed tracks being followed now."""
        return [t for t in self.tracks if t.confirmed]


class SceneCutDetector:
    """Spots a cut between consecutive frames from their small grey thumbnails.

    Mean absolute difference of 32x18 grey thumbnails (0-255), measured on the hamilton
    clip two frames apart: at most 18.5 within a shot (camera pans, people moving), 26-30
    at its three cuts.
    """

    THUMBNAIL = (32, 18)
    CUT_DIFFERENCE = 22.0

    def __init__(self, threshold: float = CUT_DIFFERENCE) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, image: np.ndarray) -> bool:
        """Whether `image` starts a new shot (the first frame does not)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        thumbnail = cv2.resize(grey, self.THUMBNAIL, interpolation=cv2.INTER_AREA).astype(
            np.float32
        )
        previous, self._previous = self._previous, thumbnail
        if previous is None:
            return False
        return float(np.abs(thumbnail - previous).mean()) >= self.threshold
