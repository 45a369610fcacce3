"""Hostile input the decoder must refuse: hidden corruption, forged sizes, strips, special files."""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetrail.errors import ImageError
from facetrail.media.images import MAX_ASPECT_RATIO, check_image_file, load_image


def encode(pixels: np.ndarray | Image.Image, fmt: str, **options: object) -> bytes:
    """Pixels encoded by Pillow."""
    image = Image.fromarray(pixels) if isinstance(pixels, np.ndarray) else pixels
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def smooth(width: int = 96, height: int = 96) -> np.ndarray:
    """A smooth gradient image (photo-like: long Huffman runs libjpeg can check)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 2, y * 2, (x + y)], axis=2).astype(np.uint8)


def refused(data: bytes | Path, *fragments: str) -> str:
    """The refusal message, asserted to hold every fragment."""
    with pytest.raises(ImageError) as caught:
        load_image(data)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_jpeg_with_extraneous_bytes_in_its_scan_is_refused() -> None:
    # Pillow and OpenCV decode this silently; libjpeg warns "extraneous bytes before marker".
    data = encode(smooth(), "JPEG", quality=90)
    end = data.rindex(b"\xff\xd9")
    damaged = data[:end] + b"\x12\x34\x56" + data[end:]
    Image.open(io.BytesIO(damaged)).load()
    refused(damaged, "corrupt", "libjpeg")


def test_jpeg_whose_scan_data_ends_early_is_refused() -> None:
    data = encode(smooth(), "JPEG", quality=90)
    start = data.index(b"\xff\xda")
    damaged = data[: start + 40] + b"\xff\xd9"  # ends with EOI, most of the scan missing
    refused(damaged, "corrupt")


def test_png_with_a_flipped_bit_in_its_pixels_is_refused() -> None:
    data = bytearray(encode(smooth(), "PNG"))
    data[data.index(b"IDAT") + 20] ^= 0x04
    refused(bytes(data), "IDAT", "bad CRC")


def test_data_after_png_iend_or_jpeg_eoi_is_refused() -> None:
    refused(encode(smooth(), "PNG") + b"PK\x03\x04 appended archive", "follow the PNG's IEND")
    refused(encode(smooth(), "JPEG") + b"PK\x03\x04 appended archive", "end-of-image marker")


def test_jpeg_padding_after_eoi_is_accepted() -> None:
    assert load_image(encode(smooth(), "JPEG") + b"\x00" * 16).width == 96


def forged_jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims width x height."""
    data = encode(smooth(), "JPEG")
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def test_small_jpeg_declaring_sixty_megapixels_is_refused_before_decoding() -> None:
    data = forged_jpeg(19_999, 3_000)
    assert len(data) < 8_000
    refused(data, "19999x3000", "bytes", "forged header")


def test_small_png_declaring_a_huge_size_is_refused_before_decoding() -> None:
    data = encode(smooth(), "PNG")
    body = struct.pack(">II", 7_000, 7_000) + data[24:29]
    ihdr = struct.pack(">I", 13) + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body))
    refused(data[:8] + ihdr + data[33:], "7000x7000", "DEFLATE")


@pytest.mark.parametrize(("width", "height"), [(1_900, 30), (40, 2_000), (20_000, 500)])
def test_extreme_aspect_ratios_are_refused(width: int, height: int) -> None:
    refused(encode(Image.new("RGB", (width, height), "white"), "PNG"), f"{MAX_ASPECT_RATIO:g}:1")


def test_ten_to_one_is_still_accepted() -> None:
    assert load_image(encode(Image.new("RGB", (640, 64), "white"), "PNG")).width == 640


def test_refusals_never_quote_file_contents(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" * 3)
    link = tmp_path / "photo.jpg"
    link.symlink_to(secret)
    message = refused(link, "content looks like text")
    assert "root" not in message.removeprefix(str(link))
    binary = bytes(range(200, 256)) * 4
    assert "c8" not in refused(binary, "unknown binary data").lower()


def test_dangling_symlink_is_named(tmp_path: Path) -> None:
    link = tmp_path / "gone.jpg"
    link.symlink_to(tmp_path / "missing.jpg")
    refused(link, "symbolic link to a file that does not exist")


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "loop.jpg"
    link.symlink_to("loop.jpg")
    refused(link, "symbolic link cannot be followed")


def test_socket_fifo_and_device_are_named_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    refused(pipe, "named pipe (FIFO)")
    sock_path = tmp_path / "s.jpg"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        refused(sock_path, "is a socket")
    refused(Path("/dev/null"), "character device")
    to_device = tmp_path / "zero.jpg"
    to_device.symlink_to("/dev/zero")
    refused(to_device, "character device")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("photo.heic", b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIC"),
        ("scan.tif", b"II*\x00\x08\x00\x00\x00" + bytes(64), "TIFF"),
        ("noextension", b"just some words in a file", "text"),
    ],
)
def test_check_image_file_names_the_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        check_image_file(path)


def test_check_image_file_sniffs_extensionless_photos(tmp_path: Path) -> None:
    path = tmp_path / "IMG0001"
    path.write_bytes(encode(smooth(), "JPEG"))
    assert check_image_file(path) == "jpeg"
    assert load_image(path).format == "jpeg"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ImageError, match="named pipe"):
        check_image_file(pipe)
