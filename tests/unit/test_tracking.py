"""ByteTrack face tracking and scene-cut detection on synthetic boxes and frames."""

from __future__ import annotations

import numpy as np
import pytest

from facetrail.media.tracking import (
    FaceTracker,
    SceneCutDetector,
    TrackerConfig,
    iou_matrix,
    match,
)


def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [20, 20, 5, 5], [5, 0, 10, 10]], float)
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 0.0, 50 / 150])
    assert match(iou_matrix(a, b), 0.2) == [(0, 0)]


def _walk(frames: int, start: float, step: float, y: float = 50.0) -> list[list[float]]:
    return [[start + step * i, y, 40.0, 50.0] for i in range(frames)]


def test_a_face_walking_past_keeps_one_track() -> None:
    tracker = FaceTracker()
    ids = set()
    for frame, box in enumerate(_walk(40, 10, 6)):
        update = tracker.update(frame, [box], [0.9])
        if frame > 0:
            ids.add(update.track_ids[0])
    assert len(ids) == 1 and None not in ids
    assert tracker.confirmed_count == 1


def test_two_faces_get_two_tracks_and_keep_them() -> None:
    tracker = FaceTracker()
    left, right = _walk(30, 10, 3), _walk(30, 400, -3, y=200)
    seen: dict[int, set[int | None]] = {0: set(), 1: set()}
    for frame in range(30):
        update = tracker.update(frame, [left[frame], right[frame]], [0.9, 0.85])
        if frame > 0:
            seen[0].add(update.track_ids[0])
            seen[1].add(update.track_ids[1])
    assert len(seen[0]) == 1 and len(seen[1]) == 1
    assert seen[0] != seen[1]
    assert tracker.confirmed_count == 2


def test_a_one_frame_false_face_never_becomes_a_track() -> None:
    tracker = FaceTracker()
    update = tracker.update(0, [[10, 10, 40, 40]], [0.95])
    assert update.track_ids == [None]
    tracker.update(1, [], [])
    assert tracker.confirmed_count == 0 and tracker.tracks == []


def test_a_track_survives_a_short_gap_and_ends_after_a_long_one() -> None:
    config = TrackerConfig(lost_frames=5)
    tracker = FaceTracker(config)
    for frame in range(3):
        first = tracker.update(frame, [[100, 100, 40, 50]], [0.9]).track_ids[0]
    for frame in range(3, 6):  # three frames unseen
        assert tracker.update(frame, [], []).ended == []
    assert tracker.update(6, [[100, 100, 40, 50]], [0.9]).track_ids == [first]
    ended = []
    for frame in range(7, 14):
        ended += tracker.update(frame, [], []).ended
    assert ended == [first]


def test_low_score_faces_keep_tracks_alive_but_never_start_one() -> None:
    tracker = FaceTracker(TrackerConfig(low_score=0.5, high_score=0.7))
    assert tracker.update(0, [[10, 10, 40, 40]], [0.6]).track_ids == [None]
    assert tracker.update(1, [[10, 10, 40, 40]], [0.6]).track_ids == [None]
    assert tracker.confirmed_count == 0
    tracker.update(2, [[200, 10, 40, 40]], [0.9])
    kept = tracker.update(3, [[202, 10, 40, 40]], [0.9]).track_ids[0]
    assert kept is not None
    assert tracker.update(4, [[204, 10, 40, 40]], [0.55]).track_ids == [kept]


def test_reset_ends_every_track_and_split_gives_a_new_id() -> None:
    tracker = FaceTracker()
    for frame in range(3):
        update = tracker.update(frame, [[10, 10, 40, 40], [300, 10, 40, 40]], [0.9, 0.9])
    first, second = update.track_ids
    assert first is not None and second is not None
    new = tracker.split(first)
    assert new not in (first, second)
    assert tracker.update(3, [[10, 10, 40, 40]], [0.9]).track_ids == [new]
    assert sorted(tracker.reset()) == sorted([new, second])
    assert tracker.active() == []
    with pytest.raises(KeyError):
        tracker.split(first)


def test_scene_cut_detector_tells_a_cut_from_motion() -> None:
    rng = np.random.default_rng(7)
    scene = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    scene = np.ascontiguousarray(np.repeat(np.repeat(scene[::40, ::40], 40, 0), 40, 1)[:360, :640])
    detector = SceneCutDetector()
    assert not detector.is_cut(scene)
    assert not detector.is_cut(np.roll(scene, 4, axis=1))  # a small pan
    other = np.ascontiguousarray(255 - scene)
    assert detector.is_cut(other)
