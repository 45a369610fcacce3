"""Demographic differentials (NIST IR 8280 style): each metric per caller-given group.

facetrail never infers group labels: the caller supplies them per identity (a CSV), and
these functions only split already-measured outcomes by those labels.
"""

from __future__ import annotations

from collections.abc import Mapping

UNLABELLED = None  # identities the groups file does not list are left out of every group


def group_of(identity: str, groups: Mapping[str, str]) -> str | None:
    """The caller-given group of `identity` (None when the file does not list it)."""
    return groups.get(identity, UNLABELLED)


def worst_to_best(values: Mapping[str, float | None]) -> dict[str, object]:
    """For an error rate per group: the worst and best group and their ratio (worst / best).

    The ratio is None when the best group has no errors (the ratio is then unbounded;
    read the rates themselves) or fewer than two groups have a value.
    """
    known = {g: v for g, v in values.items() if v is not None}
    if len(known) < 2:
        return {"worst": None, "best": None, "ratio": None}
    worst = max(known, key=lambda g: known[g])
    best = min(known, key=lambda g: known[g])
    ratio = known[worst] / known[best] if known[best] > 0 else None
    return {"worst": worst, "best": best, "ratio": ratio}


def summarise(per_group: Mapping[str, Mapping[str, float | None]]) -> dict[str, object]:
    """Per-group metrics plus, for each metric, the worst/best ratio across groups.

    Every metric given must be an error rate (higher is worse); accuracy-like figures
    are passed as their complement (e.g. rank-1 miss rate).
    """
    metrics = sorted({name for values in per_group.values() for name in values})
    return {
        "groups": {g: dict(v) for g, v in sorted(per_group.items())},
        "ratios": {
            name: worst_to_best({g: v.get(name) for g, v in per_group.items()}) for name in metrics
        },
    }
