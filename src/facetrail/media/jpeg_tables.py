"""Checks on a JPEG's Huffman tables, which libjpeg takes on trust.

libjpeg checks that a table's code lengths form a prefix code, but not the values the
codes stand for. A flipped bit there turns one value into another, and every block that
uses that code then decodes wrongly, with no warning: an AC value of size 0 (other than
end-of-block 0x00 and the run of sixteen zeros 0xF0) is read as an end of block, so the
rest of each such block is dropped (a chroma tint over half a photo, in one case measured).
What an encoder writes (T.81 annex C and F.1.2) is checked instead:

- a table lists each value at most once (a code is given to each value it needs);
- DC values are sizes: at most 11 at 8-bit precision (15 at 12-bit);
- AC values are (run, size) pairs: size at most 10 at 8-bit (14 at 12-bit), and size 0
  only for 0x00 and 0xF0 in a sequential JPEG (progressive JPEGs use 0xR0 for runs of
  end-of-bands).

Only the tables before the first scan are read; a progressive JPEG's later tables (between
scans) are left to libjpeg.
"""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.media.jpeg_markers import DHT, EOI, NOT_A_MARKER, SOS, header_segments

SOI = b"\xff\xd8"
# Start-of-frame markers: sequential Huffman (baseline, extended) and progressive Huffman.
SEQUENTIAL_FRAMES = {0xC0, 0xC1}
PROGRESSIVE_FRAMES = {0xC2}
CODE_LENGTHS = 16
# The largest DC and AC coefficient sizes (bits) at each sample precision.
MAX_DC_SIZE = {8: 11, 12: 15}
MAX_AC_SIZE = {8: 10, 12: 14}
END_OF_BLOCK, ZERO_RUN = 0x00, 0xF0


@dataclass(frozen=True, slots=True)
class BadHuffmanTable:
    """A Huffman table value no encoder writes."""

    kind: str  # "DC" or "AC"
    table: int  # its destination (0-3)
    value: int
    reason: str


def find_bad_huffman_table(data: bytes) -> BadHuffmanTable | None:
    """The first impossible value in the Huffman tables defined before the first scan."""
    if not data.startswith(SOI):
        return None
    tables: list[tuple[int, int, bytes]] = []  # (class, destination, values)
    precision, frame = 8, None
    for marker, position, length in header_segments(data):
        if marker == NOT_A_MARKER:
            return None  # not at a marker: libjpeg names the damage
        if marker in (SOS, EOI):
            break
        body = data[position + 4 : position + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None  # truncated: libjpeg refuses it
        if marker in SEQUENTIAL_FRAMES | PROGRESSIVE_FRAMES and body:
            frame, precision = marker, body[0]
        elif marker == DHT:
            tables.extend(_tables_of(body))
    if frame is None:
        return None  # a layout not checked here (lossless, arithmetic): left to libjpeg
    for table_class, destination, values in tables:
        bad = _bad_value(table_class, values, precision, frame in PROGRESSIVE_FRAMES)
        if bad is not None:
            return BadHuffmanTable("AC" if table_class else "DC", destination, *bad)
    return None


def _tables_of(body: bytes) -> list[tuple[int, int, bytes]]:
    """(class, destination, values) of each table in one DHT segment's body."""
    tables = []
    position = 0
    while position + 1 + CODE_LENGTHS <= len(body):
        table_class, destination = body[position] >> 4, body[position] & 0x0F
        count = sum(body[position + 1 : position + 1 + CODE_LENGTHS])
        start = position + 1 + CODE_LENGTHS
        if start + count > len(body):
            break  # libjpeg refuses a short table
        tables.append((table_class, destination, body[start : start + count]))
        position = start + count
    return tables


def _bad_value(
    table_class: int, values: bytes, precision: int, progressive: bool
) -> tuple[int, str] | None:
    """(value, why) of the first value no encoder writes in this table, or None."""
    seen: set[int] = set()
    max_dc, max_ac = MAX_DC_SIZE.get(precision, 15), MAX_AC_SIZE.get(precision, 14)
    for value in values:
        if value in seen:
            return value, "listed twice"
        seen.add(value)
        if table_class == 0:
            if value > max_dc:
                return value, f"a DC size over {max_dc} bits"
            continue
        run, size = value >> 4, value & 0x0F
        if size > max_ac:
            return value, f"an AC size over {max_ac} bits"
        if size == 0 and value not in (END_OF_BLOCK, ZERO_RUN) and not progressive:
            return value, f"a run of {run} zeros with no coefficient (read as an end of block)"
    return None
