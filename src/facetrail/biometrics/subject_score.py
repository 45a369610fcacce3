"""How a subject enrolled with several images is scored against one probe face.

`max` takes its best image; `mean-top-k` the mean of its k best images (all of them when
it has fewer), which a single look-alike photo cannot lift on its own. Measured on
lfw-dev (README, "Several photos per subject"): `max` misses fewer mates at every FPIR
when the gallery mixes one-photo and several-photo subjects, so it is the default.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX = "max"
SUBJECT_SCORES = (MAX, "mean-top-2", "mean-top-3")
DEFAULT_SUBJECT_SCORE = MAX
_MEAN_TOP = "mean-top-"


def top_k(method: str) -> int:
    """How many of a subject's best image scores `method` averages (1 for max).

    Raises ValueError naming the methods for anything else.
    """
    if method == MAX:
        return 1
    if method in SUBJECT_SCORES:
        return int(method.removeprefix(_MEAN_TOP))
    raise ValueError(f"subject score must be one of {', '.join(SUBJECT_SCORES)}, got {method!r}")


def subject_score(image_scores: Iterable[float], k: int) -> float:
    """The mean of the `k` highest of a subject's image scores (their mean when fewer)."""
    best = sorted(image_scores, reverse=True)[:k]
    if not best:
        raise ValueError("a subject score needs at least one image score")
    return sum(best) / len(best)
