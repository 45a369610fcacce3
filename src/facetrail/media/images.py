"""Safe image input: sniff the type from content, guard size and pixels, decode to BGR uint8.

Every photo facetrail ingests passes through `load_image`. It never trusts the file name,
checks the byte size before reading and the pixel count from the header before decoding,
refuses truncated or corrupt files, applies EXIF orientation and returns a C-contiguous
BGR uint8 array together with the original bytes and their SHA-256.

Thread safety: no global state is changed (not Pillow's MAX_IMAGE_PIXELS, not
LOAD_TRUNCATED_IMAGES, not the warnings filters); each call works on its own objects.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import (
    BmpImagePlugin,  # noqa: F401  (imported to register the plugin before any thread opens)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    PpmImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)
from PIL.ExifTags import Base as ExifTag

from facetrail.errors import ImageError, InvalidInputError
from facetrail.media.files import read_regular, stat_regular
from facetrail.media.jpeg import (
    check_jpeg_density,
    check_jpeg_end,
    check_jpeg_tables,
    decode_jpeg_strict,
)
from facetrail.media.jpeg_markers import SOF_MARKERS, header_segments
from facetrail.media.png import (
    DIRECT_PNG_MODES,
    check_png_chunks,
    check_png_density,
    decode_png_direct,
)

MEGABYTE = 1024 * 1024
SNIFF_BYTES = 32  # enough for every signature below (BMP needs 18, WEBP 16)
HEADER_SCAN_BYTES = 1024  # a netpbm header (magic, comments, width, height) fits in this
WHITE = (255, 255, 255)
SUPPORTED_TEXT = "JPEG, PNG, WEBP, BMP, PGM/PPM or GIF"
NO_ORIENTATION = 1

# Our format name -> Pillow's plugin name; Pillow may only use the plugin we sniffed.
PIL_FORMATS = {
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "bmp": "BMP",
    "pgm": "PPM",
    "gif": "GIF",
}
BMP_INFO_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
MAX_16_BIT = 65535
# Longest side over shortest side. The detector sees at most 640 px on the long side, so
# beyond 10:1 the short side drops under 64 px, too little for the ~40 px faces YuNet
# finds; on such strips YuNet returns boxes at infinity with score 1.0 (blank 40:1 images).
MAX_ASPECT_RATIO = 10.0
BLANK_CHECK_PIXELS = 1_000_000  # one-colour images this large are refused as blank

# Signatures of formats we do not take, so a refusal can say what the file really is.
KNOWN_OTHER_CONTENT: tuple[tuple[int, bytes, str], ...] = (
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"%PDF", "PDF"),
    (0, b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (0, b"\x1f\x8b", "gzip-compressed data"),
    (0, b"8BPS", "a Photoshop document (PSD)"),
    (0, b"\x00\x00\x01\x00", "an icon (ICO)"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (4, b"ftypheic", "HEIC (an iPhone photo)"),
    (4, b"ftypheix", "HEIC (an iPhone photo)"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftyp", "an MP4/MOV video"),
    (8, b"AVI ", "an AVI video"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (0, b"GIF8", "a GIF with a damaged header"),
    (0, b"\x89PNG", "a PNG with a damaged header"),
)
TEXT_SNIFF_BYTES = 256


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Bounds on what an input image may be; anything outside is refused before decoding."""

    max_bytes: int = 50 * MEGABYTE
    max_pixels: int = 60_000_000  # decompression-bomb guard, checked from the header
    max_side: int = 20_000
    min_side: int = 16


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A decoded photo: BGR uint8 pixels (orientation applied) plus its original bytes.

    Equality and hashing use format, sha256 and source, never the arrays.
    """

    pixels: np.ndarray = field(repr=False, compare=False)  # (h, w, 3) BGR uint8, C-contiguous
    format: str  # sniffed from content: jpeg | png | webp | bmp | pgm | gif
    sha256: str  # hex digest of `data`
    data: bytes = field(repr=False, compare=False)  # the original file bytes, unchanged
    source: str  # the path or name used in error messages

    @property
    def width(self) -> int:
        """Width in pixels of `pixels`."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels of `pixels`."""
        return int(self.pixels.shape[0])


# ----------------------------------------------------------------------------- sniffing


def sniff_format(data: bytes) -> str | None:
    """The image format named by the content's magic bytes, or None; never the file name."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if _looks_like_bmp(data):
        return "bmp"
    if _looks_like_netpbm(data):
        return "pgm"
    return None


def _looks_like_bmp(data: bytes) -> bool:
    """True for 'BM' followed by a known DIB header size (two letters alone match text)."""
    if len(data) < 18 or data[:2] != b"BM":
        return False
    return struct.unpack_from("<I", data, 14)[0] in BMP_INFO_HEADER_SIZES


def _looks_like_netpbm(data: bytes) -> bool:
    """True for a netpbm magic P1-P6 followed by whitespace."""
    return len(data) >= 3 and data[0:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace()


def check_image_file(path: Path, name: str | None = None) -> str:
    """The sniffed format of an image file, or ImageError saying why it is not one.

    Looks only at the file type and its first bytes (never blocks on a FIFO), so a folder
    walk can report every file it will not read, with the reason, instead of skipping it.
    """
    label = name or str(path)
    info = stat_regular(path, label)
    if info.st_size == 0:
        raise ImageError(label, "file is empty (0 bytes); copy or export the photo again")
    head = read_regular(path, label, info, head=TEXT_SNIFF_BYTES)
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageError(label, _unsupported_reason(head))
    return fmt


def is_image_file(path: Path) -> bool:
    """True when `path` is a regular file whose first bytes are a supported image signature."""
    try:
        check_image_file(path)
    except ImageError:
        return False
    return True


def _unsupported_reason(data: bytes) -> str:
    """The refusal for content that is no supported format; names a format, quotes nothing."""
    return (
        f"not a supported image (content looks like {_describe_content(data)}); "
        f"convert it to {SUPPORTED_TEXT}"
    )


def _describe_content(data: bytes) -> str:
    """A short human description of unrecognised content, for the refusal message."""
    for offset, signature, label in KNOWN_OTHER_CONTENT:
        if data[offset : offset + len(signature)] == signature:
            return label
    text = _as_text(data[:TEXT_SNIFF_BYTES])
    if text is not None:
        lowered = text.lstrip().lower()
        if lowered.startswith(("<!doctype html", "<html")):
            return "an HTML page"
        if lowered.startswith(("<svg", "<?xml")):
            return "XML/SVG text (vector images are not supported)"
        return "text"  # never quoted: the file may be a link to a secret (/etc/shadow)
    return "unknown binary data"


def _as_text(head: bytes) -> str | None:
    """The bytes as UTF-8 text if they read as text (one bad char allowed: a cut sequence)."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    unreadable = sum(1 for char in text if not (char.isprintable() or char.isspace()))
    unreadable += text.count("\ufffd")
    return text if unreadable <= 1 else None


# ------------------------------------------------------------------- header dimensions


def _header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) read from the header without decoding, or None if unreadable."""
    readers = {
        "jpeg": _jpeg_size,
        "png": _png_size,
        "webp": _webp_size,
        "bmp": _bmp_size,
        "pgm": _netpbm_size,
        "gif": _gif_size,
    }
    try:
        return readers[fmt](data)
    except (struct.error, ValueError, IndexError):
        return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """PNG: the IHDR chunk must come first, with a correct CRC."""
    if data[12:16] != b"IHDR" or zlib.crc32(data[12:29]) != struct.unpack_from(">I", data, 29)[0]:
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _gif_size(data: bytes) -> tuple[int, int]:
    """GIF: the logical screen size (what Pillow reports)."""
    width, height = struct.unpack_from("<HH", data, 6)
    return width, height


def _bmp_size(data: bytes) -> tuple[int, int]:
    """BMP: OS/2 core headers hold 16-bit sizes, later ones signed 32-bit (negative = top-down)."""
    header_size = struct.unpack_from("<I", data, 14)[0]
    if header_size == 12:
        width, height = struct.unpack_from("<HH", data, 18)
    else:
        width, height = struct.unpack_from("<ii", data, 18)
    return width, abs(height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """WEBP: lossy (VP8), lossless (VP8L) or extended (VP8X) bitstream header."""
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _netpbm_size(data: bytes) -> tuple[int, int] | None:
    """Netpbm: whitespace-separated tokens after the magic, '#' comments to end of line."""
    tokens: list[bytes] = []
    for line in data[2:HEADER_SCAN_BYTES].split(b"\n"):
        tokens.extend(line.split(b"#", 1)[0].split())
        if len(tokens) >= 2:
            return int(tokens[0]), int(tokens[1])
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """JPEG: walk the marker segments to the first start-of-frame."""
    for marker, position, _ in header_segments(data):
        if marker in SOF_MARKERS:
            height, width = struct.unpack_from(">HH", data, position + 5)
            return width, height
    return None


# -------------------------------------------------------------------------- limits


def _format_pixels(count: int) -> str:
    """'900.0 MP' for big counts, '1200 pixels' for small ones (custom limits)."""
    return f"{count / 1e6:.1f} MP" if count >= 100_000 else f"{count} pixels"


def _format_bytes(count: int) -> str:
    """'52.4 MB' for big sizes, '1200 bytes' for small ones (custom limits)."""
    return f"{count / MEGABYTE:.1f} MB" if count >= 100_000 else f"{count} bytes"


def _check_dimensions(size: tuple[int, int], limits: ImageLimits, source: str) -> None:
    """Refuse sizes over the pixel or side limits, or too small to hold a face."""
    width, height = size
    pixels = width * height
    if width <= 0 or height <= 0:
        raise ImageError(source, f"header gives an impossible size {width}x{height}; re-export it")
    if pixels > limits.max_pixels:
        raise ImageError(
            source,
            f"image is {width}x{height} = {_format_pixels(pixels)}, over the "
            f"{_format_pixels(limits.max_pixels)} limit (decompression-bomb guard); "
            "downscale it first",
        )
    if max(width, height) > limits.max_side:
        raise ImageError(
            source,
            f"image is {width}x{height}, over the {limits.max_side} px side limit; "
            "downscale it first",
        )
    if min(width, height) < limits.min_side:
        raise ImageError(
            source,
            f"image is {width}x{height}, smaller than the {limits.min_side} px minimum side; "
            "use a larger photo",
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            source,
            f"image is {width}x{height}, longer than {MAX_ASPECT_RATIO:g}:1 (no face can be "
            "found in such a strip); crop it to the face",
        )


# --------------------------------------------------------------------------- reading


def _read_source(
    source: Path | str | bytes, name: str | None, limits: ImageLimits
) -> tuple[bytes, str]:
    """The raw bytes and the name to use in messages, with size checks before reading."""
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "<bytes>"
        data = bytes(source)
    else:
        path = Path(source)
        label = name or str(path)
        data = _read_file(path, label, limits)
    _check_byte_size(len(data), limits, label)
    return data, label


def _read_file(path: Path, label: str, limits: ImageLimits) -> bytes:
    """Read a regular file, checking its type and size first; OS errors become ImageError."""
    info = stat_regular(path, label)
    _check_byte_size(info.st_size, limits, label)
    return read_regular(path, label, info)


def read_image_file(
    path: Path, *, name: str | None = None, limits: ImageLimits = DEFAULT_LIMITS
) -> bytes:
    """A regular file's bytes, checked for type and size first (never blocks on a FIFO)."""
    return _read_file(path, name or str(path), limits)


def _check_byte_size(size: int, limits: ImageLimits, label: str) -> None:
    """Refuse empty files and files over max_bytes."""
    if size == 0:
        raise ImageError(label, "file is empty (0 bytes); copy or export the photo again")
    if size > limits.max_bytes:
        raise ImageError(
            label,
            f"file is {_format_bytes(size)}, over the {_format_bytes(limits.max_bytes)} limit; "
            "recompress or downscale it first",
        )


# -------------------------------------------------------------------------- decoding


def _check_pillow_guards(size: tuple[int, int], label: str) -> None:
    """Treat Pillow's own bomb guard (warning included) as a refusal; keep truncation checks on."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and size[0] * size[1] > pillow_limit:
        raise ImageError(
            label,
            f"image is {size[0]}x{size[1]} = {_format_pixels(size[0] * size[1])}, over Pillow's "
            f"{_format_pixels(pillow_limit)} decompression-bomb limit "
            "(PIL.Image.MAX_IMAGE_PIXELS); downscale it first",
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ImageError(
            label,
            "cannot check for truncation: PIL.ImageFile.LOAD_TRUNCATED_IMAGES was set to True "
            "by other code in this process; set it back to False",
        )


def _check_structure(data: bytes, fmt: str, size: tuple[int, int], label: str) -> None:
    """Refuse JPEG/PNG files whose structure is damaged or too small for their header."""
    if fmt == "jpeg":
        check_jpeg_density(size, len(data), label)
        check_jpeg_end(data, label)
        check_jpeg_tables(data, label)
    elif fmt == "png":
        check_png_density(data, size, label)
        check_png_chunks(data, label)


def _open(data: bytes, fmt: str) -> Image.Image:
    """Open (header only) with the one Pillow plugin matching the sniffed format."""
    return Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])


def _draft_request(
    size: tuple[int, int], decode_side: int, min_side: int
) -> tuple[int, int] | None:
    """The size to ask JPEG draft mode for so the long side stays >= decode_side."""
    width, height = size
    longest = max(width, height)
    if decode_side >= longest:
        return None

    # Pillow picks scale <= min(w // rw, h // rh): pinning the long side to decode_side and
    # the short one to its floor (but >= min_side) keeps both sides big enough.
    def scaled(side: int) -> int:
        return min(side, max(min_side, side * decode_side // longest))

    return scaled(width), scaled(height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1-8), 1 when absent or unreadable."""
    try:
        value = image.getexif().get(ExifTag.Orientation, NO_ORIENTATION)
    except Exception:  # a damaged EXIF block must not lose an otherwise good photo
        return NO_ORIENTATION
    return value if isinstance(value, int) and 1 <= value <= 8 else NO_ORIENTATION


def _decode(
    data: bytes, fmt: str, label: str, limits: ImageLimits, max_decode_side: int | None
) -> np.ndarray:
    """Decode fully (or at JPEG draft scale), orient and convert to BGR uint8.

    Each path checks for a large blank image once, as early as it can (a grey PNG before
    it is expanded to three channels).
    """
    image = _open(data, fmt)
    _check_dimensions(image.size, limits, label)
    if fmt == "jpeg":
        request = None
        if max_decode_side is not None:
            request = _draft_request(image.size, max_decode_side, limits.min_side)
        decoded = decode_jpeg_strict(data, label, request)
        _check_not_blank(decoded, label)
        return _orient(decoded, _orientation(image))
    if fmt == "png" and image.mode in DIRECT_PNG_MODES and "transparency" not in image.info:
        pixels = decode_png_direct(data, grey=image.mode == "L")
        if pixels is not None:
            _check_not_blank(pixels, label)  # before a grey photo is tripled in size
            if pixels.ndim == 2:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
            return _orient(pixels, _orientation(image))
    image.load()
    if _orientation(image) != NO_ORIENTATION:
        image = ImageOps.exif_transpose(image)
    pixels = _to_bgr(image)
    _check_not_blank(pixels, label)
    return pixels


def _check_not_blank(pixels: np.ndarray, label: str) -> None:
    """Refuse a large image whose every pixel has one colour: nothing in it to find.

    A blank image of millions of pixels is the shape of a decompression bomb (it packs
    best); small ones (icons, test patterns) cost nothing and are left to the detector.
    """
    if pixels.shape[0] * pixels.shape[1] < BLANK_CHECK_PIXELS:
        return
    low, high, _, _ = cv2.minMaxLoc(pixels.reshape(pixels.shape[0], -1))
    if low == high:
        raise ImageError(
            label,
            f"image is blank: all {pixels.shape[1]}x{pixels.shape[0]} pixels have the value "
            f"{int(low)}, so there is no face to find; export the photo again",
        )


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels turned as ImageOps.exif_transpose turns them for an EXIF orientation 1-8."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, k=1),
    }.get(orientation)
    return pixels if turned is None else np.ascontiguousarray(turned(pixels))


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> C-contiguous BGR uint8; alpha composited on white."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = _sixteen_bit_to_uint8(np.asarray(image))
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        image = _composite_on_white(image)
    if image.mode == "L":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_GRAY2BGR)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def _sixteen_bit_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale 0-65535 samples to 0-255 by their high byte."""
    clipped = np.clip(values, 0, MAX_16_BIT).astype(np.uint16, copy=False)
    return np.ascontiguousarray((clipped >> 8).astype(np.uint8))


def _composite_on_white(image: Image.Image) -> Image.Image:
    """Flatten transparency onto a white background."""
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _decode_safely(
    data: bytes, fmt: str, label: str, limits: ImageLimits, max_decode_side: int | None
) -> np.ndarray:
    """`_decode` with every Pillow/OpenCV failure turned into an ImageError."""
    try:
        return _decode(data, fmt, label, limits, max_decode_side)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(
            label, f"refused by Pillow's decompression-bomb guard ({error}); downscale it first"
        ) from error
    except MemoryError as error:
        raise ImageError(label, "not enough memory to decode it; downscale it first") from error
    except UnidentifiedImageError as error:
        raise ImageError(
            label, f"Pillow cannot parse this {fmt.upper()} header; the file is corrupt"
        ) from error
    except Exception as error:  # Pillow raises OSError, ValueError, SyntaxError, struct.error...
        detail = str(error) or type(error).__name__
        raise ImageError(
            label,
            f"cannot decode this {fmt.upper()} ({detail}); the file is corrupt or truncated - "
            "copy or export it again",
        ) from error


# ------------------------------------------------------------------------ public entry


def load_image(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    limits: ImageLimits = DEFAULT_LIMITS,
    max_decode_side: int | None = None,
) -> DecodedImage:
    """Read, check and decode one image to BGR uint8, or raise ImageError saying why not.

    `name` replaces the path (or '<bytes>') in messages. `max_decode_side`, when given, lets
    JPEG decode at a reduced scale whose longer side is still at least that many pixels.
    """
    if max_decode_side is not None and max_decode_side < 1:
        raise InvalidInputError(
            f"max_decode_side must be a positive pixel count, got {max_decode_side}"
        )
    data, label = _read_source(source, name, limits)
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(label, _unsupported_reason(data))
    size = _header_size(data, fmt)
    if size is None:
        raise ImageError(
            label, f"cannot read the image size from its {fmt.upper()} header; the file is corrupt"
        )
    _check_dimensions(size, limits, label)
    _check_pillow_guards(size, label)
    _check_structure(data, fmt, size, label)
    pixels = _decode_safely(data, fmt, label, limits, max_decode_side)
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        source=label,
    )
