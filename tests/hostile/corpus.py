"""A seeded corpus of hostile input files made from real faces, each with an expected verdict.

`generate(out_dir, faces_dir)` writes more than 1,000 files and returns one `CorpusFile`
per file: "refuse" files must never give a face (they are damaged, forged, not images or
not files), "may-accept" files are harmless variants that still hold a clean face (a
decoder may take them, or refuse them if it is stricter). The same seed always gives the
same files.
"""

from __future__ import annotations

import io
import math
import os
import random
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REFUSE = "refuse"
MAY_ACCEPT = "may-accept"
DEFAULT_SEED = 20_260_701
JPEG_SOURCES = 20
PNG_SOURCES = 10
JPEG_TRUNCATIONS = 15
PNG_TRUNCATIONS = 10
JPEG_BIT_FLIPS = 240
PNG_BIT_FLIPS = 100
MAX_FLIPS = 4  # bits flipped per mutated file
# A bit-flipped JPEG is harmless when a lenient decode is a picture nobody could tell
# from the original: 99.5% of pixels within 16 levels of it (one damaged 8x8 block in a
# 250x250 photo is 0.1% of it), and either a mean error under half a grey level or a PSNR
# of 40 dB or more (the level above which differences are held imperceptible: a tint of
# 1-3 levels over part of the photo, one changed coefficient in a block or two). Such a
# file is a valid JPEG of a very slightly different picture, which no decoder can tell
# from an undamaged one; it may be accepted or refused. Anything else is damage.
HARMLESS_MEAN_ERROR = 0.5
HARMLESS_PSNR_DB = 40.0
HARMLESS_PIXEL_SHARE = 99.5
HARMLESS_PIXEL_ERROR = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAGIC_PREFIXES: tuple[bytes, ...] = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    PNG_SIGNATURE,
    b"GIF89a",
    b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"P5\n64 64\n255\n",
    b"P6\n64 64\n255\n",
    b"II*\x00",
    b"\x00\x00\x00\x18ftypheic",
    b"%PDF-1.7\n",
)
BOMB_SIZES: tuple[tuple[int, int], ...] = (
    (19_999, 3_000),
    (7_000, 7_000),
    (7_745, 7_745),
    (20_000, 20_000),
    (65_535, 65_535),
    (12_000, 4_000),
    (3_000, 19_999),
    (5_000, 9_000),
    (8_000, 7_400),
    (60_000, 1_000),
)
ODD_NAMES: tuple[bytes, ...] = (
    b"caf\xe9.jpg",  # Latin-1, not UTF-8
    b"\xff\xfe.jpg",
    b"line\nbreak.jpg",
    b"tab\tand\rreturn.jpg",
    b"bell\x07\x1b[31mred.jpg",
    "bidi-\u202egpj.exe".encode(),  # right-to-left override: shows as 'exe.jpg'
    "zero\u200bwidth.jpg".encode(),
    b" leading-space.jpg",
    b"-starts-with-dash.jpg",
    ("x" * 200 + ".jpg").encode(),
)


@dataclass(frozen=True, slots=True)
class CorpusFile:
    """One generated file, what must happen to it, and how it was made."""

    path: Path
    verdict: str  # REFUSE or MAY_ACCEPT
    kind: str


def flip_bits(data: bytes, rng: random.Random, flips: int) -> bytes:
    """`data` with `flips` random bits flipped, never in the first two bytes."""
    mutated = bytearray(data)
    for _ in range(flips):
        position = rng.randrange(2, len(mutated))
        mutated[position] ^= 1 << rng.randrange(8)
    return bytes(mutated)


def seeded_bit_flips(faces_dir: Path, count: int, seed: int = 1234) -> list[bytes]:
    """`count` lfw-dev JPEGs with 1-MAX_FLIPS bits flipped each (the issue's experiment)."""
    files = sorted((faces_dir / "lfw-dev").rglob("*.jpg"))
    rng = random.Random(seed)
    return [
        flip_bits(rng.choice(files).read_bytes(), rng, rng.randint(1, MAX_FLIPS))
        for _ in range(count)
    ]


def _lenient_pixels(data: bytes) -> np.ndarray | None:
    """Pixels as a lenient decoder (Pillow, truncation allowed) would give them, or None."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.int16)
    except Exception:
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _flip_verdict(original: np.ndarray, mutated: bytes) -> str:
    """MAY_ACCEPT when the mutated JPEG decodes to a picture indistinguishable from the
    original (HARMLESS_* above), else REFUSE."""
    pixels = _lenient_pixels(mutated)
    if pixels is None or pixels.shape != original.shape:
        return REFUSE
    difference = pixels - original
    error = np.abs(difference).max(axis=2)
    if np.percentile(error, HARMLESS_PIXEL_SHARE) >= HARMLESS_PIXEL_ERROR:
        return REFUSE
    close = error.mean() < HARMLESS_MEAN_ERROR or psnr(difference) >= HARMLESS_PSNR_DB
    return MAY_ACCEPT if close else REFUSE


def psnr(difference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of a picture differing from another by `difference`."""
    mse = float(np.mean(difference.astype(np.float64) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The image encoded by Pillow."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _zip_bytes(rng: random.Random) -> bytes:
    """A small ZIP archive holding a script, for polyglots."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("run.sh", f"echo {rng.random()}\n")
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its start-of-frame dimensions replaced (a forged header)."""
    position = data.index(b"\xff\xc0") if b"\xff\xc0" in data else data.index(b"\xff\xc2")
    return data[: position + 5] + struct.pack(">HH", height, width) + data[position + 9 :]


def _patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with IHDR dimensions replaced and its CRC recomputed (a forged header)."""
    body = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + _png_chunk(b"IHDR", body) + data[33:]


def _jpeg_with_comment(data: bytes, comment: bytes) -> bytes:
    """The JPEG with a COM segment holding `comment` right after SOI."""
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


class _Writer:
    """Writes corpus files under one folder and records their verdicts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[CorpusFile] = []

    def add(self, name: str | bytes, data: bytes, verdict: str, kind: str) -> Path:
        """Write `data` as `name` (bytes names may be any bytes) and record it."""
        path = self._path(name, kind)
        path.write_bytes(data)
        self.files.append(CorpusFile(path, verdict, kind))
        return path

    def add_special(self, name: str, make: Callable[[Path], None], verdict: str, kind: str) -> None:
        """Create a non-regular entry with `make`; skipped where the OS cannot make it."""
        path = self._path(name, kind)
        try:
            make(path)
        except OSError:
            return
        self.files.append(CorpusFile(path, verdict, kind))

    def _path(self, name: str | bytes, kind: str) -> Path:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        leaf = os.fsdecode(name) if isinstance(name, bytes) else name
        return folder / f"{len(self.files):04d}-{leaf}"


def _make_socket(path: Path) -> None:
    """A Unix socket file at `path` (left behind after closing)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(os.fspath(path))


def generate(out_dir: Path, faces_dir: Path, seed: int = DEFAULT_SEED) -> list[CorpusFile]:
    """Write the corpus into `out_dir` (created) and return every file with its verdict."""
    rng = random.Random(seed)
    writer = _Writer(out_dir)
    lfw = sorted((faces_dir / "lfw-dev").rglob("*.jpg"))
    jpegs = [path.read_bytes() for path in rng.sample(lfw, JPEG_SOURCES)]
    pngs = [_encode(Image.open(io.BytesIO(data)), "PNG") for data in jpegs[: PNG_SOURCES - 2]] + [
        path.read_bytes() for path in sorted((faces_dir / "face_recognition").rglob("*.png"))
    ]
    _truncations(writer, rng, jpegs, pngs)
    _junk(writer, rng)
    _bit_flips(writer, rng, jpegs, pngs)
    _bombs(writer, rng, jpegs, pngs)
    _relabelled(writer, rng, jpegs, pngs)
    _polyglots(writer, rng, jpegs, pngs)
    _special_files(writer, jpegs)
    _odd_names(writer, rng, jpegs)
    return writer.files


def _truncations(
    writer: _Writer, rng: random.Random, jpegs: list[bytes], pngs: list[bytes]
) -> None:
    """Files cut at many offsets, the last bytes included."""
    for sources, count, ext in ((jpegs, JPEG_TRUNCATIONS, "jpg"), (pngs, PNG_TRUNCATIONS, "png")):
        for index, data in enumerate(sources):
            cuts = {len(data) - 1, len(data) - 2, 1, 8}
            cuts |= {rng.randrange(2, len(data) - 2) for _ in range(count - len(cuts))}
            for cut in sorted(cuts):
                writer.add(f"cut{index}-{cut}.{ext}", data[:cut], REFUSE, f"truncated-{ext}")


def _junk(writer: _Writer, rng: random.Random) -> None:
    """Random bytes, with and without a real format's magic in front; empty files."""
    writer.add("empty.jpg", b"", REFUSE, "junk-empty")
    for index in range(40):
        size = rng.choice((1, 3, 16, 100, 1000, 20_000))
        writer.add(f"random{index}.jpg", rng.randbytes(size), REFUSE, "junk-random")
    for index in range(80):
        prefix = MAGIC_PREFIXES[index % len(MAGIC_PREFIXES)]
        body = rng.randbytes(rng.choice((10, 500, 5000, 20_000)))
        writer.add(f"magic{index}.jpg", prefix + body, REFUSE, "junk-magic")
    text = b"Officer notes: suspect seen at 10:42.\n" * 5
    writer.add("notes.jpg", text, REFUSE, "junk-text")
    writer.add("page.png", b"<!DOCTYPE html><html><body>404</body></html>", REFUSE, "junk-text")


def _bit_flips(writer: _Writer, rng: random.Random, jpegs: list[bytes], pngs: list[bytes]) -> None:
    """Real JPEGs and PNGs with a few bits flipped; JPEG verdicts by the damage done."""
    originals = [_lenient_pixels(data) for data in jpegs]
    for index in range(JPEG_BIT_FLIPS):
        source = rng.randrange(len(jpegs))
        mutated = flip_bits(jpegs[source], rng, rng.randint(1, MAX_FLIPS))
        original = originals[source]
        assert original is not None
        verdict = _flip_verdict(original, mutated)
        writer.add(f"flip{index}.jpg", mutated, verdict, "bitflip-jpeg")
    for index in range(PNG_BIT_FLIPS):
        data = pngs[rng.randrange(len(pngs))]
        # any flipped bit breaks the signature or a CRC-covered chunk: a corrupt file
        writer.add(
            f"flip{index}.png",
            flip_bits(data, rng, rng.randint(1, MAX_FLIPS)),
            REFUSE,
            "bitflip-png",
        )


def _bombs(writer: _Writer, rng: random.Random, jpegs: list[bytes], pngs: list[bytes]) -> None:
    """Huge declared dimensions in small files, and one real flat deflate bomb."""
    for index, (width, height) in enumerate(BOMB_SIZES):
        jpeg = _patch_jpeg_size(jpegs[index % len(jpegs)], width, height)
        writer.add(f"bomb{index}-{width}x{height}.jpg", jpeg, REFUSE, "bomb-jpeg")
        png = _patch_png_size(pngs[index % len(pngs)], width, height)
        writer.add(f"bomb{index}-{width}x{height}.png", png, REFUSE, "bomb-png")
    flat = _encode(Image.new("L", (6000, 6000), 0), "PNG", optimize=True)
    writer.add("flat-6000x6000.png", flat, REFUSE, "bomb-png")
    wide = _encode(Image.new("RGB", (19_000, 300), (128, 128, 128)), "JPEG")
    writer.add("blank-19000x300.jpg", wide, REFUSE, "blank-wide")
    white = _encode(Image.new("RGB", (20_000, 500), (255, 255, 255)), "PNG")
    writer.add("blank-20000x500.png", white, REFUSE, "blank-wide")
    del rng


def _relabelled(writer: _Writer, rng: random.Random, jpegs: list[bytes], pngs: list[bytes]) -> None:
    """Faces under the wrong extension, no extension, or in other formats."""
    for index, data in enumerate(pngs):
        writer.add(f"png-named{index}.jpg", data, MAY_ACCEPT, "mislabel")
    for index, data in enumerate(jpegs[:10]):
        writer.add(f"jpeg-named{index}.png", data, MAY_ACCEPT, "mislabel")
        writer.add(f"noextension{index}", data, MAY_ACCEPT, "mislabel")
    for index, data in enumerate(jpegs[:5]):
        face = Image.open(io.BytesIO(data))
        writer.add(f"face{index}.tif", _encode(face, "TIFF"), REFUSE, "unsupported")
        writer.add(f"tiff-named{index}.jpg", _encode(face, "TIFF"), REFUSE, "unsupported")
        heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.randbytes(3000)
        writer.add(f"photo{index}.heic", heic, REFUSE, "unsupported")
        writer.add(f"still{index}.gif", _encode(face, "GIF"), MAY_ACCEPT, "other-format")
        writer.add(
            f"face{index}.webp", _encode(face, "WEBP", quality=90), MAY_ACCEPT, "other-format"
        )
        writer.add(f"face{index}.bmp", _encode(face, "BMP"), MAY_ACCEPT, "other-format")
        writer.add(
            f"face{index}.jpg",
            _encode(face, "JPEG", quality=60, progressive=True),
            MAY_ACCEPT,
            "reencoded",
        )


def _polyglots(writer: _Writer, rng: random.Random, jpegs: list[bytes], pngs: list[bytes]) -> None:
    """Images with another file appended or prepended, or script text in a comment."""
    for index in range(10):
        archive = _zip_bytes(rng)
        writer.add(f"jpeg-zip{index}.jpg", jpegs[index] + archive, REFUSE, "polyglot")
        writer.add(f"png-zip{index}.png", pngs[index % len(pngs)] + archive, REFUSE, "polyglot")
        writer.add(
            f"html-jpeg{index}.jpg",
            b"<html><script>x()</script>" + jpegs[index],
            REFUSE,
            "polyglot",
        )
        comment = b"<script>alert(document.cookie)</script>"
        writer.add(
            f"jpeg-comment{index}.jpg",
            _jpeg_with_comment(jpegs[index], comment),
            MAY_ACCEPT,
            "polyglot-comment",
        )


def _special_files(writer: _Writer, jpegs: list[bytes]) -> None:
    """FIFOs, sockets, devices, directories and symbolic links where a photo should be."""
    face = writer.add("target.jpg", jpegs[0], MAY_ACCEPT, "special")
    writer.add_special("fifo.jpg", os.mkfifo, REFUSE, "special")
    writer.add_special("sock.jpg", _make_socket, REFUSE, "special")
    writer.add_special("folder.jpg", Path.mkdir, REFUSE, "special")
    for name, target in (
        ("dangling.jpg", "/nonexistent/face.jpg"),
        ("passwd.jpg", "/etc/passwd"),
        ("null.jpg", "/dev/null"),
        ("zero.jpg", "/dev/zero"),
    ):
        writer.add_special(name, lambda path, t=target: path.symlink_to(t), REFUSE, "special")
    writer.add_special("loop.jpg", lambda path: path.symlink_to(path.name), REFUSE, "special")
    writer.add_special(
        "link-to-face.jpg", lambda path: path.symlink_to(face), MAY_ACCEPT, "special"
    )


def _odd_names(writer: _Writer, rng: random.Random, jpegs: list[bytes]) -> None:
    """Real faces and junk under names with non-UTF-8 bytes, control and bidi characters."""
    for index, name in enumerate(ODD_NAMES):
        writer.add(name, jpegs[index % len(jpegs)], MAY_ACCEPT, "odd-name")
        writer.add(b"junk-" + name, rng.randbytes(500), REFUSE, "odd-name")
