"""Walking a JPEG's marker segments, from after start-of-image up to the first scan."""

from __future__ import annotations

from collections.abc import Iterator

DHT, SOS, EOI = 0xC4, 0xDA, 0xD9
# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {DHT, 0xC8, 0xCC}
# Markers with no length field (TEM, restart markers, SOI).
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
# Yielded where a marker should start and does not.
NOT_A_MARKER = -1


def header_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, position of its 0xFF, declared length) of each marker segment after SOI,
    up to and including the first start-of-scan; (NOT_A_MARKER, position, 0), and the end,
    at a byte that should start a marker and does not. Fill bytes and markers without a
    length are stepped over. Lengths are as declared: a segment may run past the data."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            yield NOT_A_MARKER, position, 0
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        yield marker, position, length
        if marker == SOS:
            return
        position += 2 + length
