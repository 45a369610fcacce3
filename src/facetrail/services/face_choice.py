"""Choosing the face a photo holds: by number, by box, or refusing when it is not clear."""

from __future__ import annotations

from facetrail.biometrics.face import Face
from facetrail.errors import InvalidInputError

# A box given by the operator picks the detected face it overlaps most, if at least this much.
MIN_BOX_OVERLAP = 0.3


def describe_faces(detected: list[Face]) -> str:
    """'1 at x=.. y=.. (w px wide); 2 at ...', largest first."""
    return "; ".join(
        f"{number} at x={face.box[0]:.0f} y={face.box[1]:.0f} ({face.box[2]:.0f} px wide)"
        for number, face in enumerate(detected, 1)
    )


def pick_face(
    detected: list[Face], chosen: int | None, *, option: str, what: str, hint: str = ""
) -> int:
    """The 0-based index of the face `chosen` (1 = largest); several faces need a choice.

    `option` names the option that chooses ("--face-a"), `what` the photo ("image A (a.jpg)"),
    `hint` another way to choose (" (or --box x,y,w,h)").
    """
    if chosen is None:
        if len(detected) == 1:
            return 0
        raise InvalidInputError(
            f"{what} holds {len(detected)} faces, largest first: {describe_faces(detected)};"
            f" pick one with {option} N{hint}"
        )
    if not 1 <= chosen <= len(detected):
        raise InvalidInputError(
            f"{option} {chosen}: {what} holds {len(detected)} face(s),"
            f" numbered 1-{len(detected)} largest first"
        )
    return chosen - 1


def parse_box(text: str) -> tuple[float, float, float, float]:
    """An 'x,y,w,h' box in pixels; refuses anything else, naming the option."""
    parts = text.split(",")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(f"--box must be x,y,w,h in pixels, got {text!r}") from None
    if not all(map(_finite, (x, y, w, h))) or w <= 0 or h <= 0:
        raise InvalidInputError(f"--box must have a positive width and height, got {text!r}")
    return x, y, w, h


def face_at_box(detected: list[Face], box: tuple[float, float, float, float], source: str) -> int:
    """The 0-based index of the face that overlaps `box` most (intersection over union)."""
    overlaps = [_iou(face.box, box) for face in detected]
    best = max(range(len(detected)), key=overlaps.__getitem__)
    if overlaps[best] < MIN_BOX_OVERLAP:
        raise InvalidInputError(
            f"{source}: no detected face overlaps --box {','.join(f'{v:g}' for v in box)};"
            f" faces, largest first: {describe_faces(detected)}"
        )
    return best


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
