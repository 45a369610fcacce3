"""Face image quality: size, sharpness, pose and exposure, each 0-100, and an overall score."""

from __future__ import annotations

import math

import cv2
import numpy as np

from facetrail.biometrics.alignment import align_face
from facetrail.biometrics.detector import ensure_bgr
from facetrail.biometrics.face import Face, QualityReport

# Face size: inter-eye distance in original pixels. Recognizers see a 112 px crop whose
# eyes are 35 px apart, so 35 px or more loses nothing; below 8 px the eyes are a couple
# of pixels each and recognition is guesswork.
EYE_DISTANCE_MIN_PX = 8.0
EYE_DISTANCE_FULL_PX = 35.0
# Sharpness: variance of the Laplacian of the grey 112x112 aligned crop. Measured on LFW
# (250x250 JPEG, usable): 5th-95th percentile 50-340, median 120; a Gaussian blur of
# sigma 2.5 takes it under 15. Scored on a log scale, since blur divides the variance.
SHARPNESS_BLURRED = 15.0
SHARPNESS_SHARP = 200.0
# Pose: yaw from the nose's sideways offset from the eye midpoint, in inter-eye distances
# (about 0.5 at a 45-60 degree turn, when the far eye starts to hide); roll from the eye
# line's angle. Alignment undoes roll, so only a large roll (detector trouble) counts.
# Landmark noise puts frontal faces' nose up to about 0.1 off centre: that much is free.
YAW_OFFSET_ZERO = 0.5
YAW_OFFSET_TOLERANCE = 0.1
ROLL_ZERO_DEGREES = 45.0
# Exposure: mean grey level of the aligned crop's centre, ideal mid-grey; plus the share
# of clipped pixels (<= 5 or >= 250), where detail is lost for good.
EXPOSURE_IDEAL_MEAN = 128.0
CLIP_LOW, CLIP_HIGH = 5, 250
CLIPPED_FRACTION_ZERO = 0.5
# Weights of the overall weighted geometric mean: any component near 0 pulls it down.
WEIGHTS = {"size": 0.3, "sharpness": 0.25, "pose": 0.25, "exposure": 0.2}
# Floor applied to each component inside the geometric mean, so one zero component
# gives a low but still ordered overall score rather than collapsing everything to 0.
COMPONENT_FLOOR = 1.0


def _ramp(value: float, zero: float, full: float) -> float:
    """0 at `zero`, 100 at `full`, linear between, clipped."""
    return float(np.clip((value - zero) / (full - zero), 0.0, 1.0) * 100.0)


class QualityAssessor:
    """Scores how usable a detected face is for recognition. Stateless and thread-safe.

    Components (each 0-100):
      size      = ramp(inter-eye px, EYE_DISTANCE_MIN_PX -> EYE_DISTANCE_FULL_PX)
      sharpness = ramp(log10 Laplacian variance of the aligned grey crop,
                       log10 SHARPNESS_BLURRED -> log10 SHARPNESS_SHARP)
      pose      = (1 - ramp(|nose offset|, YAW_OFFSET_TOLERANCE -> YAW_OFFSET_ZERO) / 100)
                  * (1 - min(1, |roll| / ROLL_ZERO_DEGREES)) * 100
      exposure  = (1 - |mean grey - 128| / 128) * (1 - min(1, clipped / 0.5)) * 100
    overall = prod(max(component, 1) ** weight), weights in WEIGHTS (sum 1).
    """

    def assess(self, image: np.ndarray, face: Face) -> QualityReport:
        """The quality report of `face` in `image`."""
        image = ensure_bgr(image)
        landmarks = np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)
        grey = cv2.cvtColor(align_face(image, landmarks), cv2.COLOR_BGR2GRAY)
        components = {
            "size": self.size_score(landmarks),
            "sharpness": self.sharpness_score(grey),
            "pose": self.pose_score(landmarks),
            "exposure": self.exposure_score(grey),
        }
        overall = math.prod(max(components[k], COMPONENT_FLOOR) ** w for k, w in WEIGHTS.items())
        return QualityReport(
            score=round(overall, 2), components={k: round(v, 2) for k, v in components.items()}
        )

    @staticmethod
    def size_score(landmarks: np.ndarray) -> float:
        """0-100 from the inter-eye distance in pixels."""
        distance = float(np.linalg.norm(landmarks[1] - landmarks[0]))
        return _ramp(distance, EYE_DISTANCE_MIN_PX, EYE_DISTANCE_FULL_PX)

    @staticmethod
    def sharpness_score(aligned_grey: np.ndarray) -> float:
        """0-100 from the Laplacian variance of the aligned grey crop (log scale)."""
        variance = float(cv2.Laplacian(aligned_grey, cv2.CV_64F).var())
        return _ramp(
            math.log10(max(variance, 1e-6)),
            math.log10(SHARPNESS_BLURRED),
            math.log10(SHARPNESS_SHARP),
        )

    @staticmethod
    def pose_score(landmarks: np.ndarray) -> float:
        """0-100 from landmark symmetry: nose vs eye midpoint (yaw) and eye line (roll)."""
        right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
        eye_vector = left_eye - right_eye
        distance = float(np.linalg.norm(eye_vector))
        if distance == 0:
            return 0.0
        roll = math.degrees(math.atan2(eye_vector[1], eye_vector[0]))
        # Offset of the nose along the eye line, from the eye midpoint, in eye distances.
        yaw_offset = float(np.dot(nose - (right_eye + left_eye) / 2, eye_vector)) / distance**2
        yaw_factor = 1.0 - _ramp(abs(yaw_offset), YAW_OFFSET_TOLERANCE, YAW_OFFSET_ZERO) / 100
        roll_factor = 1.0 - min(1.0, abs(roll) / ROLL_ZERO_DEGREES)
        return yaw_factor * roll_factor * 100.0

    @staticmethod
    def exposure_score(aligned_grey: np.ndarray) -> float:
        """0-100 from brightness (distance from mid-grey) and clipped pixels of the face."""
        # The centre of the crop is face; its corners can be background or warp border.
        h, w = aligned_grey.shape
        centre = aligned_grey[h // 4 : h - h // 8, w // 6 : w - w // 6]
        mean = float(centre.mean())
        clipped = float(((centre <= CLIP_LOW) | (centre >= CLIP_HIGH)).mean())
        brightness = 1.0 - abs(mean - EXPOSURE_IDEAL_MEAN) / EXPOSURE_IDEAL_MEAN
        clipping = 1.0 - min(1.0, clipped / CLIPPED_FRACTION_ZERO)
        return max(0.0, brightness) * clipping * 100.0
