"""Index kinds a gallery can choose (exact, compressed, milvus, auto) and what each builds.

A gallery stores its kind in `galleries.index_factory`. `auto` is exact FAISS up to
`compress_above` templates and compressed past it; `compressed` is FAISS PQ fast-scan whose
shortlist is re-scored exactly from the re-ranking store (index/rerank.py), every code
scanned up to `partition_above` templates and the codes in IVF lists past it (a probe
scans the lists nearest it); `milvus` is a collection per (gallery, model) on a Milvus
server.
Values written by older versions (`Flat`, or any FAISS factory string) still open.
"""

from __future__ import annotations

import re

from facetrail.errors import InvalidInputError
from facetrail.index.faiss_index import EXACT_FACTORY, MIN_TRAIN_PER_LIST, MIN_TRAIN_QUANTISED

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
# Past PARTITION_ABOVE templates a compressed gallery's PQ codes are split into IVF
# lists and a probe scans the NPROBE lists nearest it instead of every code. A full
# PQ64x4fs scan costs about 1 ms per million templates on one core and fast-scan IVF
# about 2 us per list probed, so finer lists cost less for the same recall: measured
# (docs/scale.md, run 5, 1,000 probes) IVF8192 at 256 lists kept 99.3% of exact's mate
# recall at 1M (2.3 ms p50 through the app) and 99.2% at 10M (3.8 ms); IVF4096 needed 512
# lists for 99.5% (1.0 ms of scan at 1M, no faster than every code). The shortlist is
# re-scored exactly from the re-ranking store as before; what IVF loses is a mate whose
# list is not among the NPROBE visited, and near-ties of the exact top 10.
PARTITIONED_FACTORY = "IVF8192,PQ64x4fs"
PARTITIONED_NPROBE = 256
DEFAULT_PARTITION_ABOVE = 750_000
_LISTS = re.compile(r"^IVF(\d+),")
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


def ivf_lists(factory: str) -> int:
    """The number of IVF lists of a FAISS factory string (0: not partitioned)."""
    found = _LISTS.match(factory)
    return int(found[1]) if found else 0


def faiss_factory(
    stored: str,
    size: int,
    compress_above: int,
    compressed: str = COMPRESSED_FACTORY,
    *,
    partition_above: int | None = None,
    partitioned: str = PARTITIONED_FACTORY,
) -> str:
    """The FAISS factory for a FAISS-backed gallery of `size` templates.

    Compressed indexes need MIN_TRAIN_QUANTISED vectors to train; below that a gallery
    is held exact (it is small, so exact is fast) and compressed once it has grown.
    A compressed (or auto, past `compress_above`) gallery of more than
    `partition_above` templates is indexed `partitioned` (IVF lists), once it holds
    enough templates to train its lists; `partition_above` None: never.
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
    if (
        stored in (AUTO, COMPRESSED)
        and wanted == compressed
        and partition_above is not None
        and size > partition_above
        and size >= ivf_lists(partitioned) * MIN_TRAIN_PER_LIST
    ):
        wanted = partitioned
    return EXACT_FACTORY if size < MIN_TRAIN_QUANTISED else wanted
