"""Checks on a JPEG's DCT coefficients for damage libjpeg decodes without a warning.

A flipped bit in a DC difference, or a desynchronised stretch of the Huffman-coded scan,
leaves the DC predictor off by one constant: every later block of that component, in
scan order, is brighter, darker or tinted by it. The pixels hide part of this (libjpeg
clamps to 0-255, and steps in dark or flat areas look like padding); the coefficients
(read with jpeglib's binding of libjpeg's coefficient API, from an anonymous in-memory
file: no photo is written to disk) do not:

- **DC out of range.** An encoder computes each block's DC from its samples (8 times their
  mean, less the 128 level shift) and rounds it to a multiple of the quantisation step q,
  so a decoded block's mean lies within q/16 of a true mean in 0-255. A block beyond that,
  in any component, holds a value no encoder writes. Exact, not statistical.
- **DC offset in scan order.** With the blocks' unclamped edges decoded from the
  coefficients, the step across each block boundary (beyond the neighbours' slope) is
  about 0 in a photo. A constant offset that starts at MCU (r, c) steps by that constant
  along MCU row r's top from column c rightwards and along its bottom left of c. Both
  segments must show it: a natural edge or a frame's border lies along one boundary row.

Measured (2026-12-01) on 9,659 undamaged JPEGs of six face sets and the hostile corpus's
bit flips: see tests/unit/test_jpeg_coefficients.py.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import jpeglib
import numpy as np
from jpeglib._bind import CJpegLib  # the coefficient reader itself: see _read_coefficients

BLOCK = 8
SAMPLE_MAX = 255.0
LEVEL_SHIFT = 128.0
COMPONENT_NAMES = ("luma", "blue chroma", "red chroma")
# Beyond q/16, the rounding of an exact DC; covers integer DCTs' arithmetic error. The
# undamaged photos measured stay at least 0.31 levels inside this.
MEAN_SLACK = 0.25
# A split's two segments must each hold this many block columns to be judged.
MIN_SEGMENT_BLOCKS = 3
AGREE_LEVELS = 1.5  # a boundary agrees with the split's median step within this ...
AGREE_SHARE = 0.3  # ... or this share of it, whichever is larger
# |median step| x the weaker segment's agreement, beyond the mirrored split's: undamaged
# photos measured reach 4.3 (an LED wall behind the face), all others 3.3 at most; the
# damaged flips of the hostile corpus this check catches score 5.4-8.6.
OFFSET_THRESHOLD = 5.0
# Block columns judged per boundary in wide photos (evenly spread), and splits tried per row.
MAX_COLUMNS = 96

_x = np.arange(BLOCK)
_u = np.arange(BLOCK)[:, None]
_BASIS = (np.sqrt(2 / BLOCK) * np.cos((2 * _x + 1) * _u * np.pi / (2 * BLOCK))).astype(np.float32)
_BASIS[0] /= np.sqrt(2)  # orthonormal DCT-II rows: pixels = BASIS.T @ F @ BASIS
_EDGE_ROWS = [0, 1, BLOCK - 2, BLOCK - 1]
# jpeglib is not thread-safe: two reads at once crashed the process (SIGBUS) in the sweep
# over the face sets with 4 threads. Reads are serialised; each takes a few ms.
_READ_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Component:
    name: str
    coefficients: np.ndarray  # (block rows, block columns, 8, 8) as stored (quantised)
    table: np.ndarray  # (8, 8) float32 quantisation steps
    step: float  # the DC quantisation step
    sampling: tuple[int, int]  # (vertical, horizontal) blocks per MCU


@dataclass(frozen=True, slots=True)
class DcOutOfRange:
    """The block whose DC coefficient lies furthest outside the sample range."""

    component: str
    row: int  # row and column of its top-left corner, in that component's own samples
    column: int
    mean: float  # the mean its DC coefficient gives, in grey levels
    blocks: int  # how many blocks of that component lie outside the range


@dataclass(frozen=True, slots=True)
class DcOffset:
    """A constant step where the scan order splits an MCU row: a desynchronised decode."""

    component: str
    row: int  # the MCU row's first pixel row, in that component's own samples
    column: int  # the pixel column, in that component's samples, where the offset begins
    levels: float  # the step, in grey levels (signed)
    agreement: float  # the weaker segment's share of boundaries showing it


def find_coefficient_damage(data: bytes) -> DcOutOfRange | DcOffset | None:
    """A DC out of range, else a DC offset in scan order, or None.

    None too when the coefficients cannot be read (no memfd, or a layout libjpeg's
    coefficient API refuses): the pixel checks still run on every JPEG.
    """
    components = _read_components(data)
    return _dc_out_of_range(components) or _dc_offset(components)


def _read_components(data: bytes) -> list[_Component]:
    """Each component's coefficients, or [] when they cannot be read."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:
        return []
    # libjpeg reads from a file: an anonymous in-memory one, so no photo touches a disk
    descriptor = memfd_create("facetrail-jpeg", getattr(os, "MFD_CLOEXEC", 0))
    try:
        with open(descriptor, "wb", closefd=False) as memory_file:
            memory_file.write(data)
        with _READ_LOCK:
            planes, tables, table_of, sampling = _read_coefficients(f"/proc/self/fd/{descriptor}")
    except Exception:  # any refusal by the coefficient reader: no verdict
        return []
    finally:
        os.close(descriptor)
    colour = len(planes) > 1
    components = []
    for index, plane in enumerate(planes[: len(COMPONENT_NAMES)]):
        table = tables[table_of[index]]
        factors = (int(sampling[index, 0]), int(sampling[index, 1])) if colour else (1, 1)
        step = float(table[0, 0])
        components.append(_Component(COMPONENT_NAMES[index], plane, table, step, factors))
    return components


def _read_coefficients(
    path: str,
) -> tuple[list[np.ndarray], np.ndarray, list[int], np.ndarray]:
    """(planes, quantisation tables, table of each plane, sampling factors) of the JPEG at path.

    `jpeglib.read_dct(path).Y` would copy the photo into a named temporary file on disk
    (DCTJPEG.load); this is the same call into libjpeg, reading from `path` itself.
    """
    jpeg = jpeglib.read_dct(path)  # reads the header only
    count = int(jpeg.num_components)
    buffers = [
        ((ctypes.c_short * 64) * jpeg.width_in_blocks(index) * jpeg.height_in_blocks(index))()
        for index in range(count)
    ]
    tables = ((ctypes.c_ushort * 64) * 4)()
    table_of = (ctypes.c_short * 4)()
    chroma = buffers[1:3] if jpeg.has_chrominance else [None, None]
    # the C function itself: jpeglib's wrapper prints the path to stdout when it fails
    status = CJpegLib.get().read_jpeg_dct(
        CJpegLib.cstr(path),
        buffers[0],
        chroma[0],
        chroma[1],
        buffers[3] if jpeg.has_black else None,
        tables,
        table_of,
    )
    if status == 0:
        raise ValueError("libjpeg could not read the DCT coefficients")
    planes = [
        np.ctypeslib.as_array(buffer).reshape(
            jpeg.height_in_blocks(index), jpeg.width_in_blocks(index), BLOCK, BLOCK
        )
        for index, buffer in enumerate(buffers[:3] if jpeg.has_chrominance else buffers[:1])
    ]
    table_array = np.ctypeslib.as_array(tables).reshape(4, BLOCK, BLOCK).astype(np.float32)
    sampling = np.asarray(jpeg.samp_factor).reshape(-1, 2)
    return planes, table_array, [int(table_of[index]) for index in range(count)], sampling


def _dc_out_of_range(components: list[_Component]) -> DcOutOfRange | None:
    """The block furthest beyond 0-255 (past rounding), over all components."""
    worst: DcOutOfRange | None = None
    worst_excess = 0.0
    for component in components:
        means = component.coefficients[:, :, 0, 0] * (component.step / BLOCK) + LEVEL_SHIFT
        excess = np.maximum(-means, means - SAMPLE_MAX) - (component.step / 16 + MEAN_SLACK)
        outside = int((excess > 0).sum())
        if outside == 0:
            continue
        index = np.unravel_index(int(np.argmax(excess)), excess.shape)
        if float(excess[index]) > worst_excess:
            worst_excess = float(excess[index])
            row, column = (int(value) * BLOCK for value in index)
            worst = DcOutOfRange(component.name, row, column, float(means[index]), outside)
    return worst


def _dc_offset(components: list[_Component]) -> DcOffset | None:
    """The strongest scan-order split over OFFSET_THRESHOLD, any component."""
    found: DcOffset | None = None
    strongest = OFFSET_THRESHOLD
    for component in components:
        split = _best_split(component)
        if split is not None and split[0] >= strongest:
            strongest, found = split[0], split[1]
    return found


def _boundary_steps(coefficients: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per horizontal boundary (block row i to i+1) and block column: the step beyond slope."""
    # rows 0, 1, 6, 7 of every block, unclamped: BASIS[:, rows].T @ F @ BASIS
    dequantised = coefficients.astype(np.float32) * table
    edges = np.matmul(np.matmul(_BASIS[:, _EDGE_ROWS].T, dequantised), _BASIS)
    first, second, second_last, last = (edges[:, :, index] for index in range(4))
    below_first, below_second = first[1:], second[1:]
    above_last, above_second_last = last[:-1], second_last[:-1]
    step = below_first - above_last
    slope = 0.5 * ((above_last - above_second_last) + (below_second - below_first))
    return (step - slope).mean(axis=2)  # (block rows - 1, block columns)


def _best_split(component: _Component) -> tuple[float, DcOffset] | None:
    """(score, offset) of the scan-order split whose two segments agree most on one step.

    The score is the split's beyond the best mirrored split of the same MCU row (top
    segment left of the column, bottom right of it), which no damage leaves: a texture
    repeating on the block grid (an LED wall) scores on both and is not taken for damage.
    """
    vertical, horizontal = component.sampling
    block_rows, block_columns = component.coefficients.shape[:2]
    if block_rows < 3 * vertical or block_columns < 2 * MIN_SEGMENT_BLOCKS:
        return None
    columns = np.unique(np.linspace(0, block_columns - 1, min(block_columns, MAX_COLUMNS)).round())
    columns = columns.astype(np.intp)
    # only the judged block columns are decoded: a 36 MP photo costs about 20 MB here
    steps = _boundary_steps(component.coefficients[:, columns], component.table)
    splits = np.arange(1, block_columns // horizontal) * horizontal  # block column of each split
    right = columns[None, :] >= splits[:, None]  # (splits, columns): in the top segment
    segment_blocks = np.minimum(right.sum(axis=1), (~right).sum(axis=1))
    usable = segment_blocks >= MIN_SEGMENT_BLOCKS
    splits, right = splits[usable], right[usable]
    if len(splits) == 0:
        return None
    best: tuple[float, DcOffset] | None = None
    for mcu_row in range(1, block_rows // vertical - 1):
        top, bottom = steps[mcu_row * vertical - 1], steps[(mcu_row + 1) * vertical - 1]
        scores, levels, agreement = _split_scores(top, bottom, right)
        mirrored, _, _ = _split_scores(top, bottom, ~right)
        index = int(np.argmax(scores))
        score = float(scores[index] - mirrored.max())
        if best is None or score > best[0]:
            offset = DcOffset(
                component.name,
                mcu_row * vertical * BLOCK,
                int(splits[index]) * BLOCK,
                float(levels[index]),
                float(agreement[index]),
            )
            best = (score, offset)
    return best


def _split_scores(
    top: np.ndarray, bottom: np.ndarray, in_top: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per split: |median step| x the weaker segment's agreement, the median, the agreement."""
    values = np.where(in_top, top[None, :], bottom[None, :])
    levels = np.median(values, axis=1)
    tolerance = np.maximum(AGREE_LEVELS, AGREE_SHARE * np.abs(levels))
    agree = np.abs(values - levels[:, None]) <= tolerance[:, None]
    top_share = (agree & in_top).sum(axis=1) / in_top.sum(axis=1)
    bottom_share = (agree & ~in_top).sum(axis=1) / (~in_top).sum(axis=1)
    agreement = np.minimum(top_share, bottom_share)
    return np.abs(levels) * agreement, levels, agreement
