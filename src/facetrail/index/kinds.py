"""Index kinds a gallery can choose (exact, compressed, milvus, auto) and what each builds.

A gallery stores its kind in `galleries.index_factory`. `auto` is exact FAISS up to
`compress_above` templates and compressed past it; `compressed` is FAISS PQ fast-scan with
an SQ8 refine store (exact re-ranking of the final candidates happens in the matcher, from
the stored templates); `milvus` is a collection per (gallery, model) on a Milvus server.
Values written by older versions (`Flat`, or any FAISS factory string) still open.
"""

from __future__ import annotations

from facetrail.errors import InvalidInputError
from facetrail.index.faiss_index import EXACT_FACTORY, MIN_TRAIN_QUANTISED

AUTO = "auto"
EXACT = "exact"
COMPRESSED = "compressed"
MILVUS = "milvus"
INDEX_KINDS = (AUTO, EXACT, COMPRESSED, MILVUS)
# The compressed kind: 4-bit PQ fast-scan over 64 sub-vectors (32 B per template)
# shortlists COMPRESSED_SHORTLIST candidates, which are re-scored exactly against the
# float32 templates of the re-ranking store beside the index (index/rerank.py; memory-
# mapped, 512 B on disk per template). PQ32x4fs (16 B) is as fast but its shortlist
# missed true top-10 neighbours on the synthetic 100k test (49% of probes kept their
# exact top-10 set at 1000 candidates, PQ64x4fs 100%). The SQ8 refine store earlier
# kinds used between PQ and the exact re-ranking is not needed with the store: its
# files are rebuilt as plain PQ64x4fs on next use.
COMPRESSED_FACTORY = "PQ64x4fs"
# Past this many templates an `auto` gallery is indexed compressed (exact: ~28 ms at 1M).
DEFAULT_COMPRESS_ABOVE = 1_000_000
_LEGACY = {EXACT_FACTORY: EXACT}


def check_kind(kind: str) -> str:
    """The kind, checked: one of INDEX_KINDS, else an error naming the choices."""
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r}: use one of {', '.join(INDEX_KINDS)}")
    return kind


def kind_of(stored: str) -> str:
    """The kind a gallery's stored `index_factory` value means (legacy values included)."""
    if stored in INDEX_KINDS:
        return stored
    return _LEGACY.get(stored, COMPRESSED)


def is_milvus(stored: str) -> bool:
    """Whether a gallery with this stored value is indexed on a Milvus server."""
    return stored == MILVUS


def faiss_factory(
    stored: str, size: int, compress_above: int, compressed: str = COMPRESSED_FACTORY
) -> str:
    """The FAISS factory for a FAISS-backed gallery of `size` templates.

    Compressed indexes need MIN_TRAIN_QUANTISED vectors to train; below that a gallery
    is held exact (it is small, so exact is fast) and compressed once it has grown.
    """
    if stored in (EXACT, EXACT_FACTORY):
        return EXACT_FACTORY
    if stored == AUTO:
        wanted = EXACT_FACTORY if size <= compress_above else compressed
    elif stored == COMPRESSED:
        wanted = compressed
    elif stored == MILVUS:
        raise InvalidInputError("a milvus gallery has no FAISS factory")
    else:
        wanted = stored  # a FAISS factory string stored by an older facetrail
    return EXACT_FACTORY if size < MIN_TRAIN_QUANTISED else wanted
