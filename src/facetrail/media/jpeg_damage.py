"""Pixel-level check for JPEG entropy damage that libjpeg cannot see.

A flipped bit in a JPEG's Huffman-coded data desynchronises the decoder for a few blocks;
it then falls back into step, and since the file's length still matches, libjpeg reports
nothing. What is left is the DC predictor: every later block of that component (to the end
of the scan, or the next restart marker) is brighter, darker or tinted by one constant.
In the pixels this is a step of that constant exactly on a block boundary, running the
whole width of the image: on block row r from the damaged block rightwards, and on block
row r+1 left of it. Summing the steps of two or three consecutive block boundaries, column
by column, therefore gives the same constant at every column, whatever column the damage
began at. Natural edges are neither tied to the 8-pixel grid nor constant across a whole
row, and the same sums taken half a block off the grid measure what the photo itself gives.

Black padding (letterboxing, LFW's borders) also ends on block rows; row segments that are
flat, or dark and flat near an edge of the image, are left out of the sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BLOCK = 8
# Boundary windows summed: 1 (a step on one boundary), 2 (8-row MCUs, chroma), 3 (16-row
# luma MCUs of 4:2:0, whose damaged block may be the lower one of its MCU).
WINDOWS = (1, 2, 3)
# Vertical and horizontal chroma subsampling by the header's name for it.
CHROMA_FACTORS = {"444": (1, 1), "422": (1, 2), "420": (2, 2), "440": (2, 1), "411": (1, 4)}
FLAT_STD = 1.5  # a row segment this uniform says nothing about steps (sky, walls, clipping)
DARK_MEAN = 24.0  # ... nor does a dark, fairly flat one near the image's edge (padding)
DARK_STD = 8.0
EDGE_MARGIN = 32  # pixels from a side within which dark flat segments count as padding
PAD_ROWS = 64  # ... and from the top or bottom (LFW pads up to 40 rows)
# Boundaries this close to the top or bottom are not judged: padding and frames end there,
# and damage that starts there touches too little of the photo to matter.
EDGE_ROWS = 24
MIN_SEGMENT_SHARE = 0.4
# Block columns judged per boundary, spread evenly across a wide photo: a step runs the
# whole width, so 64 columns show it as well as 500 do, at an eighth of the cost.
MAX_SEGMENTS = 64  # a window needs this share of its row's segments to be judged
AGREE_LEVELS = 1.5  # a segment agrees with the window's median within this many levels...
AGREE_SHARE = 0.3  # ... or within this share of the median, whichever is larger
# Measured (2026-12-01) on 9,660 undamaged JPEGs (lfw-dev and five other sets) and the
# hostile corpus's bit flips: see tests/unit/test_jpeg_damage.py for the figures.
STEP_THRESHOLD = 8.0  # grey levels times agreement, over the off-grid baseline
MIN_BLOCK_PIXELS = 4  # at draft scales under 1/2 a block is too small to judge
# A block stepping from all four neighbours by this many levels more than any block half
# a block off the grid does: measured on 9,660 undamaged JPEGs, the largest was 34.
GARBAGE_THRESHOLD = 40.0
# The same for a chroma block at the chroma plane's own resolution (a colour blotch):
# the 9,659 undamaged JPEGs of the face sets reach 10.1 at most (blue chroma).
CHROMA_GARBAGE_THRESHOLD = 16.0
# Photos over this many pixels are judged at half size (a third of the time of 2 MP).
HALVE_ABOVE_PIXELS = 1_500_000


@dataclass(frozen=True, slots=True)
class BlockStep:
    """A constant step on block boundaries: the mark of a desynchronised JPEG."""

    component: str  # "luma", "blue chroma" or "red chroma"
    row: int  # pixel row (of the decoded image) of the first boundary of the window
    levels: float  # the step, in grey levels of that component (signed)
    agreement: float  # share of the row's block columns that show the same step


@dataclass(frozen=True, slots=True)
class _Best:
    score: float
    window_row: int
    levels: float
    agreement: float


_NONE = _Best(0.0, 0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A decoded photo ready to judge: YCrCb, halved when large, and its block size."""

    ycc: np.ndarray
    block: int  # a JPEG block's side in these pixels
    factor: int  # these pixels to the decoded photo's: 1, or 2 when halved


def find_damage(
    pixels: np.ndarray, subsampling: str, scale: float = 1.0
) -> GarbageBlock | BlockStep | None:
    """A garbage block, else a block-grid step, in a decoded JPEG (BGR uint8), or None.

    `subsampling` is simplejpeg's name for the chroma layout ("420", "444", "Gray", ...);
    `scale` is decoded size over full size when the JPEG was decoded at a draft scale.
    The photo is converted (and halved) once for both checks.
    """
    prepared = _prepared(pixels, scale)
    if prepared is None:
        return None
    return (
        _garbage_block(prepared)
        or _chroma_garbage_block(prepared, subsampling)
        or _block_step(prepared, subsampling)
    )


def find_block_step(pixels: np.ndarray, subsampling: str, scale: float = 1.0) -> BlockStep | None:
    """The strongest on-grid constant step in a decoded JPEG (BGR uint8), or None."""
    prepared = _prepared(pixels, scale)
    return None if prepared is None else _block_step(prepared, subsampling)


def _prepared(pixels: np.ndarray, scale: float) -> _Prepared | None:
    """The photo in YCrCb, at half size over HALVE_ABOVE_PIXELS; None if blocks are too small."""
    block = round(BLOCK * scale)
    if block < MIN_BLOCK_PIXELS or pixels.ndim != 3:
        return None
    factor = 1
    large = pixels.shape[0] * pixels.shape[1] > HALVE_ABOVE_PIXELS
    if large and block >= 2 * MIN_BLOCK_PIXELS:
        # 2x2 means keep every block boundary (8 px -> 4 px) and the step on it
        height, width = pixels.shape[0] // 2, pixels.shape[1] // 2
        pixels = cv2.resize(
            pixels[: height * 2, : width * 2], (width, height), interpolation=cv2.INTER_AREA
        )
        block //= 2
        factor = 2
    return _Prepared(cv2.cvtColor(pixels, cv2.COLOR_BGR2YCrCb), block, factor)


def _block_step(prepared: _Prepared, subsampling: str) -> BlockStep | None:
    """The strongest step over STEP_THRESHOLD beyond its off-grid baseline, any plane."""
    found: BlockStep | None = None
    strongest = STEP_THRESHOLD
    for index, (name, factors) in enumerate(_components(subsampling)):
        plane, luma = _at_own_resolution(prepared.ycc, index, factors)
        on_grid, off_grid = _component_steps(plane, luma, prepared.block)
        excess = on_grid.score - off_grid.score
        if excess >= strongest:
            strongest = excess
            row = on_grid.window_row * factors[0] * prepared.factor
            found = BlockStep(name, row, on_grid.levels, on_grid.agreement)
    return found


def _components(subsampling: str) -> list[tuple[str, tuple[int, int]]]:
    """Each YCrCb plane to judge, with its (vertical, horizontal) subsampling."""
    luma = [("luma", (1, 1))]
    factors = CHROMA_FACTORS.get(subsampling)
    if factors is None:  # greyscale, or a layout we do not know: luma alone
        return luma
    return [*luma, ("red chroma", factors), ("blue chroma", factors)]


def _at_own_resolution(
    ycc: np.ndarray, index: int, factors: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """One YCrCb plane at the resolution the JPEG coded it, and the luma on that grid."""
    return _subsampled(ycc[:, :, index], factors), _subsampled(ycc[:, :, 0], factors)


def _subsampled(plane: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """`plane` averaged down by (vertical, horizontal) factors, as the JPEG coded it."""
    vertical, horizontal = factors
    if vertical == 1 and horizontal == 1:
        return plane
    height, width = plane.shape[0] // vertical, plane.shape[1] // horizontal
    cropped = plane[: height * vertical, : width * horizontal]
    return cv2.resize(cropped, (width, height), interpolation=cv2.INTER_AREA)


def _component_steps(plane: np.ndarray, luma: np.ndarray, block: int) -> tuple[_Best, _Best]:
    """Best window on the block grid and half a block off it, for one plane."""
    height = plane.shape[0] // block * block
    segments = plane.shape[1] // block
    if height // block < 3 or segments < 2:
        return _NONE, _NONE
    chosen = np.unique(np.linspace(0, segments - 1, min(segments, MAX_SEGMENTS)).round())
    columns = chosen.astype(np.intp) * block
    pixel_columns = (columns[:, None] + np.arange(block)).ravel()
    near_side = (columns < EDGE_MARGIN) | (columns + block > segments * block - EDGE_MARGIN)
    grids = []
    for offset in (0, block // 2):
        rows = np.arange(offset, height, block)
        rows = rows[(rows >= EDGE_ROWS) & (rows <= height - EDGE_ROWS)]
        if len(rows) == 0:
            return _NONE, _NONE
        steps = _excess_steps(plane, pixel_columns, rows, len(columns), block)
        judged = _judged(luma, pixel_columns, rows, near_side, block, height)
        grids.append(_best_window(steps, judged, rows))
    return grids[0], grids[1]


def _read(plane: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """plane[rows][:, columns] as float32, gathering only those pixels."""
    return plane[rows[:, None], columns[None, :]].astype(np.float32)


def _excess_steps(
    plane: np.ndarray, columns: np.ndarray, rows: np.ndarray, segments: int, block: int
) -> np.ndarray:
    """Per boundary row and block column: the step across it beyond its neighbours' slope."""
    gathered = _read(plane, (rows[None, :] + np.arange(-2, 2)[:, None]).ravel(), columns)
    before2, before, after, after2 = gathered.reshape(4, len(rows), -1)
    excess = (after - before) - 0.5 * ((before - before2) + (after2 - after))
    return excess.reshape(len(rows), segments, block).mean(axis=2)


def _judged(
    luma: np.ndarray,
    columns: np.ndarray,
    rows: np.ndarray,
    near_side: np.ndarray,
    block: int,
    height: int,
) -> np.ndarray:
    """Which (boundary, block column) cells carry information: not flat, not padding."""
    near = np.clip(rows[None, :] + np.arange(-3, 3)[:, None], 0, height - 1)  # (6, rows)
    cells = _read(luma, near.ravel(), columns).reshape(*near.shape, len(near_side), block)
    mean = cells.mean(axis=3)
    spread = cells.std(axis=3)
    near_top_bottom = (near < PAD_ROWS) | (near >= height - PAD_ROWS)
    near_edge = near_top_bottom[:, :, None] | near_side[None, None, :]
    padding = (mean < DARK_MEAN) & (spread < DARK_STD) & near_edge
    flat = spread < FLAT_STD
    both_flat = flat[:3].all(axis=0) & flat[3:].all(axis=0)
    return ~(padding.any(axis=0) | both_flat)


def _best_window(steps: np.ndarray, judged: np.ndarray, rows: np.ndarray) -> _Best:
    """The window of consecutive boundaries whose summed steps agree most, and how much."""
    count, segments = steps.shape
    best = _NONE
    needed = max(3, MIN_SEGMENT_SHARE * segments)
    for size in WINDOWS:
        if count < size:
            continue
        windows = count - size + 1
        summed = sum(steps[offset : windows + offset] for offset in range(size))
        usable = np.logical_and.reduce(
            [judged[offset : windows + offset] for offset in range(size)]
        )
        enough = usable.sum(axis=1) >= needed
        if not enough.any():
            continue
        values = np.where(usable, summed, np.inf)[enough]
        counts = usable[enough].sum(axis=1)
        levels = _median_of_finite(values, counts)
        tolerance = np.maximum(AGREE_LEVELS, AGREE_SHARE * np.abs(levels))
        agree = (np.abs(values - levels[:, None]) <= tolerance[:, None]).sum(axis=1)
        agreement = agree / counts
        scores = np.abs(levels) * agreement
        top = int(np.argmax(scores))
        if scores[top] > best.score:
            row = int(rows[np.flatnonzero(enough)[top]])
            best = _Best(float(scores[top]), row, float(levels[top]), float(agreement[top]))
    return best


def _median_of_finite(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row medians of `values` whose first `counts[i]` sorted entries are finite (rest inf)."""
    ordered = np.sort(values, axis=1)
    index = np.arange(len(counts))
    return 0.5 * (ordered[index, (counts - 1) // 2] + ordered[index, counts // 2])


@dataclass(frozen=True, slots=True)
class GarbageBlock:
    """A block that breaks from all four neighbours: decoded from desynchronised data."""

    row: int  # pixel row and column of its top-left corner in the decoded image
    column: int
    levels: float  # its weakest side's step beyond the neighbours' slope, in grey levels
    component: str = "luma"


def find_garbage_block(pixels: np.ndarray, scale: float = 1.0) -> GarbageBlock | None:
    """The luma block most out of step with all four neighbours, if out of step enough.

    Before a desynchronised decoder falls back into step it decodes a few blocks from
    the wrong bits: random detail that matches none of its neighbours. A natural edge runs
    along at most two sides of a block; a step on all four sides, beyond what the same
    measure finds half a block off the grid, is a garbage block.
    """
    prepared = _prepared(pixels, scale)
    return None if prepared is None else _garbage_block(prepared)


def _garbage_block(prepared: _Prepared) -> GarbageBlock | None:
    """find_garbage_block on a prepared photo, in the decoded photo's pixels."""
    found = _out_of_step_block(prepared.ycc[:, :, 0], prepared.block, GARBAGE_THRESHOLD)
    if found is None:
        return None
    levels, row, column = found
    return GarbageBlock(row * prepared.factor, column * prepared.factor, levels)


def _chroma_garbage_block(prepared: _Prepared, subsampling: str) -> GarbageBlock | None:
    """A chroma block out of step with all four neighbours, judged on its own grid."""
    for index, (name, factors) in enumerate(_components(subsampling)[1:], start=1):
        plane = _subsampled(prepared.ycc[:, :, index], factors)  # the luma grid is not needed
        found = _out_of_step_block(plane, prepared.block, CHROMA_GARBAGE_THRESHOLD)
        if found is not None:
            levels, row, column = found
            scale_y, scale_x = factors[0] * prepared.factor, factors[1] * prepared.factor
            return GarbageBlock(row * scale_y, column * scale_x, levels, name)
    return None


def _out_of_step_block(
    plane: np.ndarray, block: int, threshold: float
) -> tuple[float, int, int] | None:
    """(levels, row, column) of the block whose weakest side beats off-grid by `threshold`."""
    values = plane.astype(np.float32)
    across_rows = _boundary_excess(values)
    across_columns = _boundary_excess(values.T).T
    on_grid = _worst_block(across_rows, across_columns, block, 0)
    off_grid = _worst_block(across_rows, across_columns, block, block // 2)
    if on_grid is None or off_grid is None or on_grid[0] - off_grid[0] < threshold:
        return None
    return on_grid


def _boundary_excess(plane: np.ndarray) -> np.ndarray:
    """|step between rows y-1 and y beyond the neighbours' slope|; row y holds it (0 at edges)."""
    excess = np.zeros_like(plane)
    steps = np.diff(plane, axis=0)  # steps[k] = plane[k + 1] - plane[k]
    excess[2:-1] = np.abs(steps[1:-1] - 0.5 * (steps[:-2] + steps[2:]))
    return excess


def _worst_block(
    across_rows: np.ndarray, across_columns: np.ndarray, block: int, offset: int
) -> tuple[float, int, int] | None:
    """(weakest-side step, row, column) of the block on this grid whose weakest is largest."""
    height, width = across_rows.shape
    # a block's far boundary needs one row (column) beyond it: the last judged block
    # ends at most two rows before the edge
    tops = np.arange(offset + block, height - block - 1, block)
    lefts = np.arange(offset + block, width - block - 1, block)
    if len(tops) < 2 or len(lefts) < 2:
        return None
    span_x = slice(lefts[0], lefts[-1] + block)
    span_y = slice(tops[0], tops[-1] + block)
    top = across_rows[tops, span_x].reshape(len(tops), len(lefts), block).mean(axis=2)
    bottom = across_rows[tops + block, span_x].reshape(len(tops), len(lefts), block).mean(axis=2)
    left = across_columns[span_y, lefts].reshape(len(tops), block, len(lefts)).mean(axis=1)
    right = across_columns[span_y, lefts + block].reshape(len(tops), block, len(lefts)).mean(axis=1)
    weakest = np.minimum(np.minimum(top, bottom), np.minimum(left, right))
    row, column = np.unravel_index(int(np.argmax(weakest)), weakest.shape)
    return float(weakest[row, column]), int(tops[row]), int(lefts[column])
