"""Safe image input: every format, orientation and mode decodes to BGR; bad input is refused."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from facetrail.errors import ImageError, InvalidInputError
from facetrail.media import files as media_files
from facetrail.media import images
from facetrail.media.images import (
    DEFAULT_LIMITS,
    DecodedImage,
    ImageLimits,
    is_image_file,
    load_image,
    sniff_format,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
JPEG_TOLERANCE = 12  # mean absolute error allowed after lossy JPEG/WEBP coding
PILLOW_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "jpeg": ("JPEG", {"quality": 95}),
    "png": ("PNG", {}),
    "webp": ("WEBP", {"lossless": True}),
    "bmp": ("BMP", {}),
    "pgm": ("PPM", {}),
    "gif": ("GIF", {}),
}
BOMB_SIDE = 30_000


# ------------------------------------------------------------------------------ helpers


def quadrants(width: int = 64, height: int = 32) -> np.ndarray:
    """An RGB image whose four quadrants are red, green, blue and white (TL, TR, BL, BR)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    half_h, half_w = height // 2, width // 2
    rgb[:half_h, :half_w] = RED
    rgb[:half_h, half_w:] = GREEN
    rgb[half_h:, :half_w] = BLUE
    rgb[half_h:, half_w:] = WHITE
    return rgb


def encode(image: Image.Image | np.ndarray, fmt: str, **options: Any) -> bytes:
    """The image encoded by Pillow in our format name (or a Pillow name)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    pil_format, defaults = PILLOW_FORMATS.get(fmt, (fmt, {}))
    buffer = io.BytesIO()
    image.save(buffer, pil_format, **{**defaults, **options})
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write bytes to tmp_path/name and return the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def bgr(rgb: np.ndarray) -> np.ndarray:
    """RGB array -> BGR, as load_image returns."""
    return np.ascontiguousarray(rgb[..., ::-1])


def refused(source: Path | str | bytes, *fragments: str, **kwargs: Any) -> ImageError:
    """Assert load_image refuses `source` with a message naming it and holding `fragments`."""
    with pytest.raises(ImageError) as caught:
        load_image(source, **kwargs)
    message = str(caught.value)
    expected_name = kwargs.get("name") or (
        str(source) if isinstance(source, Path | str) else "<bytes>"
    )
    assert message.startswith(f"{expected_name}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return caught.value


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height but holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def bmp_header_only(width: int, height: int) -> bytes:
    """A tiny 24-bit BMP whose header claims width x height but holds no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def with_orientation(rgb: np.ndarray, fmt: str, orientation: int) -> bytes:
    """The image encoded with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(rgb, fmt, exif=exif.tobytes())


def displayed(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for stored pixels with that EXIF orientation (EXIF 2.32 table)."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirrored horizontally
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1],  # mirrored vertically
        5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
        6: lambda a: np.rot90(a, k=-1),  # needs 90 degrees clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
        8: lambda a: np.rot90(a, k=1),  # needs 90 degrees counter-clockwise
    }
    return np.ascontiguousarray(transforms[orientation](rgb))


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two same-shape uint8 arrays."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ----------------------------------------------------------------------- every format


@pytest.mark.parametrize("fmt", sorted(PILLOW_FORMATS))
def test_every_format_decodes_to_contiguous_bgr(tmp_path: Path, fmt: str) -> None:
    rgb = quadrants()
    data = encode(rgb, fmt)
    path = write(tmp_path, f"photo.{fmt}", data)

    decoded = load_image(path)

    assert decoded.format == fmt
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == (32, 64, 3)
    assert decoded.pixels.flags["C_CONTIGUOUS"]
    assert (decoded.width, decoded.height) == (64, 32)
    assert decoded.data == data
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded.source == str(path)
    assert mean_error(decoded.pixels, bgr(rgb)) < (JPEG_TOLERANCE if fmt == "jpeg" else 0.01)
    assert tuple(decoded.pixels[4, 4]) == pytest.approx((0, 0, 255), abs=8)  # red in BGR


@pytest.mark.parametrize("options", [{"lossless": False, "quality": 95}, {"lossless": True}])
def test_webp_lossy_and_lossless_decode(options: dict[str, object]) -> None:
    rgb = quadrants()
    decoded = load_image(encode(rgb, "webp", **options))
    assert decoded.format == "webp"
    assert mean_error(decoded.pixels, bgr(rgb)) < JPEG_TOLERANCE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"P2\n# grey, plain text\n3 2\n255\n0 128 255\n255 128 0\n", [0, 128, 255, 255, 128, 0]),
        (b"P1\n3 2\n1 0 1\n0 1 0\n", [0, 255, 0, 255, 0, 255]),  # PBM: 1 is black
    ],
)
def test_plain_text_netpbm_decodes(data: bytes, expected: list[int]) -> None:
    decoded = load_image(data, limits=ImageLimits(min_side=1))
    assert decoded.format == "pgm"
    assert decoded.pixels[..., 0].ravel().tolist() == expected
    assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])


def test_sixteen_bit_pgm_scales_to_eight_bits() -> None:
    header = b"P5\n16 16\n65535\n"
    samples = np.full((16, 16), 0x8000, ">u2")
    samples[0, 0] = 0xFFFF
    decoded = load_image(header + samples.tobytes())
    assert decoded.pixels[0, 0].tolist() == [255, 255, 255]
    assert decoded.pixels[5, 5].tolist() == [128, 128, 128]


def test_sniff_format_ignores_names_and_rejects_other_content() -> None:
    for fmt in PILLOW_FORMATS:
        assert sniff_format(encode(quadrants(), fmt)) == fmt
    assert sniff_format(b"P6\n2 2\n255\n") == "pgm"
    assert sniff_format(b"") is None
    assert sniff_format(b"hello world") is None
    assert sniff_format(b"BMW is a car maker, not a bitmap") is None
    assert sniff_format(b"II*\x00\x08\x00\x00\x00") is None  # TIFF is not supported
    assert sniff_format(b"Pizza") is None


def test_png_named_jpg_decodes_as_png(tmp_path: Path) -> None:
    path = write(tmp_path, "really_a_png.jpg", encode(quadrants(), "png"))
    decoded = load_image(path)
    assert decoded.format == "png"
    assert mean_error(decoded.pixels, bgr(quadrants())) == 0


# ------------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_moves_pixels(fmt: str, orientation: int) -> None:
    rgb = quadrants(64, 32)
    decoded = load_image(with_orientation(rgb, fmt, orientation))

    expected = bgr(displayed(rgb, orientation))
    assert decoded.pixels.shape == expected.shape
    assert decoded.pixels.flags["C_CONTIGUOUS"]
    assert mean_error(decoded.pixels, expected) < JPEG_TOLERANCE
    # The red quadrant's centre lands where the viewer shows it.
    red_mask = np.all(np.abs(expected.astype(int) - (0, 0, 255)) < 2, axis=2)
    ys, xs = np.nonzero(red_mask)
    centre = decoded.pixels[int(ys.mean()), int(xs.mean())]
    assert centre.tolist() == pytest.approx([0, 0, 255], abs=10)


def test_orientation_6_turns_a_landscape_file_into_portrait() -> None:
    decoded = load_image(with_orientation(quadrants(64, 32), "jpeg", 6))
    assert (decoded.width, decoded.height) == (32, 64)
    top_right = decoded.pixels[4, 28]  # rotating clockwise puts the red top-left there
    assert top_right.tolist() == pytest.approx([0, 0, 255], abs=10)


# ------------------------------------------------------------------------ colour modes


def test_greyscale_becomes_three_equal_channels() -> None:
    grey = Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1)))
    for fmt in ("png", "jpeg", "bmp"):
        decoded = load_image(encode(grey, fmt))
        assert decoded.pixels.shape == (32, 32, 3)
        assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 1])
        assert abs(int(decoded.pixels[0, 31, 0]) - 248) <= 4


def test_one_bit_bmp_decodes() -> None:
    bits = Image.fromarray(quadrants()[..., 0] > 0).convert("1")
    decoded = load_image(encode(bits, "bmp"))
    assert decoded.pixels[4, 4].tolist() == [255, 255, 255]  # red quadrant has R > 0
    assert decoded.pixels[4, 40].tolist() == [0, 0, 0]


def test_palette_png_and_gif_decode_to_true_colour() -> None:
    palette = Image.fromarray(quadrants()).quantize(colors=4)
    assert palette.mode == "P"
    for fmt in ("png", "gif", "bmp"):
        decoded = load_image(encode(palette, fmt))
        assert mean_error(decoded.pixels, bgr(quadrants())) < 1, fmt


def test_rgba_is_composited_on_white() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = RED
    rgba[:, 16:, 3] = 255  # right half opaque red, left half fully transparent
    rgba[:, :16, 3] = 0
    for fmt in ("png", "webp"):
        decoded = load_image(encode(Image.fromarray(rgba, "RGBA"), fmt))
        assert decoded.pixels[5, 5].tolist() == [255, 255, 255], fmt
        assert decoded.pixels[5, 25].tolist() == [0, 0, 255], fmt


def test_half_transparent_pixels_blend_with_white() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = BLUE
    rgba[..., 3] = 128
    decoded = load_image(encode(Image.fromarray(rgba, "RGBA"), "png"))
    assert decoded.pixels[8, 8].tolist() == pytest.approx([255, 127, 127], abs=2)


def test_greyscale_alpha_and_palette_transparency_go_white() -> None:
    la = Image.fromarray(np.zeros((16, 16, 2), np.uint8), "LA")  # black, fully transparent
    assert load_image(encode(la, "png")).pixels[0, 0].tolist() == [255, 255, 255]

    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (8, 0, 16, 16))
    for fmt in ("png", "gif"):
        data = encode(palette, fmt, transparency=0)
        decoded = load_image(data)
        assert decoded.pixels[0, 0].tolist() == [255, 255, 255], fmt  # transparent index
        assert decoded.pixels[0, 12].tolist() == [0, 0, 255], fmt


def test_sixteen_bit_png_grey_and_colour_scale_to_eight_bits() -> None:
    grey = np.full((16, 16), 0x8000, np.uint16)
    grey[0, 0] = 0xFFFF
    decoded = load_image(encode(Image.fromarray(grey), "png"))
    assert decoded.pixels[0, 0].tolist() == [255, 255, 255]
    assert decoded.pixels[8, 8].tolist() == [128, 128, 128]

    colour = np.zeros((16, 16, 3), np.uint16)  # BGR order for OpenCV's writer
    colour[..., 2] = 0xFFFF
    colour[..., 0] = 0x4000
    ok, encoded = cv2.imencode(".png", colour)
    assert ok
    decoded = load_image(encoded.tobytes())
    assert decoded.pixels[3, 3].tolist() == pytest.approx([64, 0, 255], abs=1)


def test_cmyk_jpeg_becomes_bgr() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    decoded = load_image(encode(cmyk, "jpeg"))
    assert decoded.pixels.shape == (32, 32, 3)
    assert decoded.pixels[16, 16].tolist() == pytest.approx([0, 0, 255], abs=10)


def test_gif_returns_the_first_of_two_frames() -> None:
    first = Image.new("RGB", (32, 32), RED)
    second = Image.new("RGB", (32, 32), BLUE)
    data = encode(first, "gif", save_all=True, append_images=[second], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    decoded = load_image(data)
    assert decoded.pixels[16, 16].tolist() == [0, 0, 255]


# -------------------------------------------------------------------- refused content


def test_text_file_named_jpg_is_refused_with_what_it_looks_like(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.jpg", b"Meeting notes: bring the photos on Monday.\n")
    error = refused(path, "not a supported image", "content looks like text")
    assert "Meeting" not in str(error)  # a refusal names a format, never quotes the file


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
        (b"II*\x00\x08\x00\x00\x00" + bytes(64), "TIFF"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIC"),
        (b"%PDF-1.7\n" + bytes(64), "PDF"),
        (bytes(range(200, 256)) * 4, "unknown binary data"),
    ],
)
def test_other_content_is_named_in_the_refusal(content: bytes, looks_like: str) -> None:
    error = refused(content, "not a supported image", looks_like, "convert it to JPEG")
    assert error.source == "<bytes>"


# libwebp decodes damaged lossy data without an error (noise in, noise out): header only.
@pytest.mark.parametrize(
    ("fmt", "keep"),
    [("jpeg", 16), ("png", 16), ("gif", 16), ("webp", 16), ("jpeg", 0.3), ("gif", 0.3)],
)
def test_corrupt_bytes_after_a_valid_signature_are_refused(fmt: str, keep: float) -> None:
    data = encode(np.random.default_rng(5).integers(0, 256, (64, 64, 3), np.uint8), fmt)
    prefix = int(keep) if keep >= 1 else int(len(data) * keep)
    garbage = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    refused(data[:prefix] + garbage, "corrupt", name=f"upload.{fmt}")


def test_jpeg_with_garbage_scan_data_is_refused() -> None:
    data = encode(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8), "jpeg")
    start = data.index(b"\xff\xda") + 20
    damaged = data[:start] + b"\xff\xc0" * 100 + data[start + 200 :]
    refused(damaged, "corrupt")


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_is_refused(tmp_path: Path, fraction: float, progressive: bool) -> None:
    noise = np.random.default_rng(2).integers(0, 256, (120, 160, 3), np.uint8)
    data = encode(noise, "jpeg", progressive=progressive)
    path = write(tmp_path, "cut.jpg", data[: int(len(data) * fraction)])
    refused(path, "truncated")
    refused(path, "truncated", max_decode_side=40)  # the draft path too


def test_jpeg_missing_only_its_end_marker_is_refused() -> None:
    data = encode(quadrants(), "jpeg")
    assert data.endswith(b"\xff\xd9")
    refused(data[:-2], "truncated")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_png_is_refused(cut: float) -> None:
    data = encode(np.random.default_rng(3).integers(0, 256, (64, 64, 3), np.uint8), "png")
    refused(data[: int(len(data) * cut)], "truncated")


def test_png_missing_its_iend_chunk_is_refused() -> None:
    data = encode(quadrants(), "png")
    # Pillow itself decodes this without complaint; the IEND check must catch it.
    Image.open(io.BytesIO(data[:-12])).load()
    refused(data[:-12], "IEND", "truncated")


@pytest.mark.parametrize("fmt", ["gif", "bmp", "pgm", "webp"])
def test_truncated_other_formats_are_refused(fmt: str) -> None:
    data = encode(np.random.default_rng(4).integers(0, 256, (64, 64, 3), np.uint8), fmt)
    refused(data[: len(data) // 2], name=f"half.{fmt}")


def test_refuses_to_decode_when_truncated_loading_was_switched_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # importing facetrail must not change it
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    refused(encode(quadrants(), "jpeg"), "LOAD_TRUNCATED_IMAGES", "set it back to False")


def test_jpeg_without_a_frame_header_is_refused() -> None:
    refused(b"\xff\xd8\xff\xda\x00\x08" + bytes(100), "cannot read the image size", "corrupt")


# ------------------------------------------------------------------------- size limits


@pytest.mark.parametrize("make", [png_header_only, bmp_header_only])
def test_bomb_header_is_refused_before_pillow_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[int, int], bytes]
) -> None:
    data = make(BOMB_SIDE, BOMB_SIDE)
    assert len(data) < 100
    path = write(tmp_path, "bomb.png", data)

    def must_not_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was asked to open a decompression bomb")

    monkeypatch.setattr(images.Image, "open", must_not_open)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        refused(path, "30000x30000 = 900.0 MP", "60.0 MP limit", "decompression-bomb", "downscale")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5
    assert peak < 1_000_000  # nothing near 30000*30000*3 bytes was allocated


def test_pillow_bomb_limit_still_applies_under_generous_limits() -> None:
    generous = ImageLimits(max_pixels=10**12, max_side=10**6)
    # 30000 x 4000 = 120 MP: Pillow would only warn (its error starts at 2 x 89.5 MP).
    refused(png_header_only(BOMB_SIDE, 4000), "over Pillow's 89.5 MP", limits=generous)


@pytest.mark.parametrize("raised", [Image.DecompressionBombError, Image.DecompressionBombWarning])
def test_pillow_bomb_exceptions_become_image_errors(
    monkeypatch: pytest.MonkeyPatch, raised: type[Exception]
) -> None:
    def bomb(*args: object, **kwargs: object) -> None:
        raise raised("Image size (900000000 pixels) exceeds limit")

    monkeypatch.setattr(images.Image, "open", bomb)
    refused(encode(quadrants(), "png"), "decompression-bomb guard", "900000000 pixels")


@pytest.mark.parametrize("fmt", sorted(PILLOW_FORMATS))
@pytest.mark.parametrize("variant", ["plain", "alpha"])
def test_pixel_limit_is_checked_from_every_header(
    monkeypatch: pytest.MonkeyPatch, fmt: str, variant: str
) -> None:
    mode = "RGBA" if variant == "alpha" and fmt in ("png", "webp") else "RGB"
    data = encode(Image.new(mode, (37, 23), RED), fmt)
    monkeypatch.setattr(images.Image, "open", lambda *a, **k: pytest.fail("decoded"))
    refused(
        data, "37x23 = 851 pixels", "over the 850 pixels limit", limits=ImageLimits(max_pixels=850)
    )


def test_pixel_limit_message_with_custom_limits() -> None:
    refused(
        encode(quadrants(100, 100), "png"),
        "100x100 = 10000 pixels",
        limits=ImageLimits(max_pixels=5000),
    )


def test_side_limits() -> None:
    refused(
        encode(quadrants(200, 20), "png"),
        "200x20",
        "100 px side limit",
        limits=ImageLimits(max_side=100),
    )
    refused(encode(quadrants(40, 10), "png"), "40x10", "16 px minimum side", "larger photo")


def test_over_max_bytes_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "big.png", encode(quadrants(), "png"))
    small = ImageLimits(max_bytes=100)
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("file was read"))
    refused(path, f"file is {path.stat().st_size} bytes", "over the 100 bytes limit", limits=small)


def test_over_max_bytes_for_in_memory_bytes() -> None:
    refused(
        bytes(2_000_000),
        "file is 1.9 MB",
        "over the 1.0 MB limit",
        limits=ImageLimits(max_bytes=1024 * 1024),
    )


def test_default_limits_match_the_contract() -> None:
    expected = ImageLimits(max_bytes=50 * 1024 * 1024, max_pixels=60_000_000, max_side=20_000)
    assert (expected.min_side, expected) == (16, DEFAULT_LIMITS)


# ----------------------------------------------------------------------- file problems


def test_empty_file_is_refused(tmp_path: Path) -> None:
    refused(write(tmp_path, "empty.jpg", b""), "empty (0 bytes)")
    refused(b"", "empty")


def test_directory_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "is a directory")


def test_missing_path_is_refused(tmp_path: Path) -> None:
    refused(tmp_path / "nope.jpg", "file not found", "check the path")
    refused(str(tmp_path / "nope.jpg"), "file not found", name="nope")


def test_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "locked.png", encode(quadrants(), "png"))

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # chmod 000 does not stop root, so simulate it
    monkeypatch.setattr(media_files, "_open_descriptor", denied)
    refused(path, "cannot read the file (Permission denied)", "check permissions")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    refused(pipe, "not a regular file")
    assert not is_image_file(pipe)


def test_name_replaces_the_source_in_messages() -> None:
    error = refused(b"plain words", "not a supported image", name="upload-17.jpg")
    assert error.source == "upload-17.jpg"
    assert load_image(encode(quadrants(), "png"), name="upload-18.png").source == "upload-18.png"


# -------------------------------------------------------------------------- folder walks


def test_is_image_file_sniffs_content_not_names(tmp_path: Path) -> None:
    for fmt in PILLOW_FORMATS:
        assert is_image_file(write(tmp_path, f"{fmt}.dat", encode(quadrants(), fmt))), fmt
    assert not is_image_file(write(tmp_path, "text.jpg", b"not an image"))
    assert not is_image_file(write(tmp_path, "empty.png", b""))
    assert not is_image_file(tmp_path)
    assert not is_image_file(tmp_path / "missing.jpg")


# --------------------------------------------------------------------- draft decoding


def test_max_decode_side_lets_jpeg_decode_smaller_but_not_below_it() -> None:
    big = cv2.resize(quadrants(), (2000, 1000), interpolation=cv2.INTER_NEAREST)
    data = encode(big, "jpeg")
    full = load_image(data)
    reduced = load_image(data, max_decode_side=400)
    assert (full.width, full.height) == (2000, 1000)
    assert (reduced.width, reduced.height) == (500, 250)  # 1/4 scale keeps 500 >= 400
    assert reduced.data == full.data and reduced.sha256 == full.sha256
    assert reduced.pixels[10, 10].tolist() == pytest.approx([0, 0, 255], abs=10)
    assert load_image(data, max_decode_side=1000).width == 1000
    assert load_image(data, max_decode_side=5000).width == 2000  # never upscales


def test_max_decode_side_keeps_the_short_side_above_min_side() -> None:
    tall = encode(Image.new("RGB", (160, 1600), RED), "jpeg")  # 10:1, the longest allowed
    decoded = load_image(tall, max_decode_side=100)
    assert decoded.height >= 100
    assert decoded.width >= DEFAULT_LIMITS.min_side


def test_max_decode_side_does_not_change_other_formats() -> None:
    data = encode(cv2.resize(quadrants(), (800, 400)), "png")
    assert load_image(data, max_decode_side=100).width == 800


def test_max_decode_side_must_be_positive() -> None:
    with pytest.raises(InvalidInputError, match="positive"):
        load_image(encode(quadrants(), "png"), max_decode_side=0)


def test_draft_decoding_applies_orientation() -> None:
    rotated = with_orientation(cv2.resize(quadrants(), (1280, 640)), "jpeg", 8)
    decoded = load_image(rotated, max_decode_side=300)
    assert (decoded.width, decoded.height) == (160, 320)
    assert decoded.pixels[-10, 10].tolist() == pytest.approx([0, 0, 255], abs=10)


# ---------------------------------------------------------------------- the record


def test_decoded_image_repr_and_equality_skip_the_big_fields() -> None:
    data = encode(quadrants(), "png")
    first, second = load_image(data, name="a"), load_image(data, name="a")
    assert first == second and hash(first) == hash(second)
    assert first != load_image(data, name="b")
    assert "pixels" not in repr(first) and "\\x89PNG" not in repr(first)
    with pytest.raises(AttributeError):
        first.format = "gif"  # type: ignore[misc]
    assert isinstance(first, DecodedImage)


def test_decoding_from_many_threads_matches_serial_results() -> None:
    inputs = [
        encode(quadrants(64 + 8 * i, 48), fmt) for i, fmt in enumerate(sorted(PILLOW_FORMATS))
    ] * 2
    inputs += [with_orientation(quadrants(), "jpeg", o) for o in range(1, 9)]
    serial = [load_image(data).pixels for data in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            parallel = list(pool.map(lambda d: load_image(d).pixels, inputs))
            assert all(np.array_equal(a, b) for a, b in zip(serial, parallel, strict=True))


# ----------------------------------------------------------------------- real data


EXPECTED_REAL_FORMATS = {".pgm": "pgm", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}
KNOWN_MISNAMED = {"deepface/Scarlett_Johansson/img47.jpg": "webp"}  # a WEBP named .jpg


@pytest.mark.slow
def test_every_real_face_image_decodes(faces_dir: Path) -> None:
    """Every photo of the face sets loads: also the damage checks' sweep for false refusals
    (jpeg_damage, jpeg_coefficients: 0 of the 9,660 undamaged JPEGs refused)."""
    files = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in EXPECTED_REAL_FORMATS)
    assert len(files) > 10_000
    assert all(is_image_file(p) for p in files)
    assert not any(is_image_file(p) for p in faces_dir.rglob("*.csv"))

    def check(path: Path) -> tuple[str, str, tuple[int, ...]]:
        decoded = load_image(path)
        return path.relative_to(faces_dir).as_posix(), decoded.format, decoded.pixels.shape

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, files))
    for relative, fmt, shape in results:
        expected = KNOWN_MISNAMED.get(relative, EXPECTED_REAL_FORMATS[Path(relative).suffix])
        assert fmt == expected, relative
        assert len(shape) == 3 and shape[2] == 3 and min(shape[:2]) >= 16, relative
    formats = {fmt for _, fmt, _ in results}
    assert formats == {"jpeg", "png", "pgm", "webp"}
