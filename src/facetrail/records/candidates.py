"""A search candidate list as a response transaction (EBTS CAN plus facetrail's scores)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from facetrail.errors import RecordError
from facetrail.records.model import Candidate, Envelope, FieldValue, Transaction
from facetrail.records.standard import (
    CANDIDATES_FIELD,
    COUNT_FIELD,
    DOMAIN,
    SCORES_FIELD,
    field_label,
)

SCORE_DIGITS = 6
SCORE_ITEMS = 3  # (rank, reference, score)
TYPE2 = "Type-2 record"


def candidate_list(envelope: Envelope, candidates: Sequence[Candidate]) -> Transaction:
    """A response transaction listing `candidates` in rank order (none: a no-hit answer).

    Set `envelope.control_reference` (1.010 TCR) to the control number of the search.
    """
    ranked = sorted(candidates, key=lambda candidate: candidate.rank)
    for candidate in ranked:
        if not math.isfinite(candidate.score) or candidate.rank < 1:
            raise RecordError(
                "candidate list", TYPE2, field_label(SCORES_FIELD), f"bad entry {candidate}"
            )
    type2: dict[str, FieldValue] = {COUNT_FIELD: str(len(ranked))}
    if ranked:
        type2[CANDIDATES_FIELD] = tuple((c.reference, c.name) for c in ranked)
        type2[SCORES_FIELD] = tuple(
            (str(c.rank), c.reference, f"{c.score:.{SCORE_DIGITS}f}") for c in ranked
        )
    return Transaction(envelope=replace(envelope, domain=envelope.domain or DOMAIN), type2=type2)


def read_candidates(transaction: Transaction, source: str) -> tuple[Candidate, ...]:
    """The candidate list of a response transaction written by `candidate_list`."""
    count = transaction.type2.get(COUNT_FIELD)
    if not isinstance(count, str) or not count.isdigit():
        raise RecordError(source, TYPE2, COUNT_FIELD, "missing: not a candidate list response")
    if int(count) == 0:
        return ()
    scores = _subfields(transaction, SCORES_FIELD, source)
    names = _subfields(transaction, CANDIDATES_FIELD, source)
    if len(scores) != int(count) or len(names) != int(count):
        raise RecordError(
            source, TYPE2, SCORES_FIELD, f"{count} candidates announced, {len(scores)} listed"
        )
    result = []
    for entry, (reference, *name) in zip(scores, names, strict=True):
        result.append(_candidate(entry, reference, name[0] if name else "", source))
    return tuple(result)


def _subfields(transaction: Transaction, tag: str, source: str) -> tuple[tuple[str, ...], ...]:
    """A Type-2 field of subfields with items, or RecordError."""
    value = transaction.type2.get(tag)
    if value is None or isinstance(value, str):
        raise RecordError(source, TYPE2, field_label(tag), "is missing or not a list of entries")
    return value


def _candidate(entry: tuple[str, ...], reference: str, name: str, source: str) -> Candidate:
    """One (rank, reference, score) entry checked against the CAN entry of the same rank."""
    if len(entry) != SCORE_ITEMS or entry[1] != reference:
        raise RecordError(
            source, TYPE2, field_label(SCORES_FIELD), f"entry {entry} does not match CAN"
        )
    try:
        rank, score = int(entry[0]), float(entry[2])
    except ValueError as error:
        raise RecordError(
            source, TYPE2, field_label(SCORES_FIELD), f"entry {entry} is not numeric"
        ) from error
    if rank < 1 or not math.isfinite(score):
        raise RecordError(source, TYPE2, field_label(SCORES_FIELD), f"entry {entry} is invalid")
    return Candidate(rank=rank, reference=reference, score=score, name=name)
