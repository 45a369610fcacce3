"""The coefficient checks: a DC offset written into a real JPEG's coefficients is refused.

jpeglib writes the damaged files: the same coefficients as the undamaged photo except the
DC of every block from one MCU on, which is what a flipped DC bit or a desynchronised scan
leaves. Undamaged photos are checked by tests/unit/test_images.py's sweep over six
face sets (load_image runs these checks too).
"""

from __future__ import annotations

import io
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jpeglib
import numpy as np
import pytest
from PIL import Image

from facetrail.errors import ImageError
from facetrail.media.images import load_image
from facetrail.media.jpeg_coefficients import DcOffset, DcOutOfRange, find_coefficient_damage

MCU_BLOCKS = 2  # luma blocks per MCU side in 4:2:0


def _jpeg_with_dark_band(faces_dir: Path) -> bytes:
    """An lfw-dev photo with a black band across its top 32 rows, as 4:2:0 JPEG."""
    path = sorted((faces_dir / "lfw-dev").rglob("*.jpg"))[7]
    pixels = np.asarray(Image.open(path).convert("RGB")).copy()
    pixels[:32] = 0
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, subsampling=2)
    return buffer.getvalue()


def _dc_shifted(
    data: bytes, tmp_path: Path, plane: str, mcu: tuple[int, int], levels: int
) -> bytes:
    """`data` with `plane`'s blocks from MCU `mcu` on (scan order) offset by about `levels`."""
    source, target = tmp_path / "source.jpg", tmp_path / "shifted.jpg"
    source.write_bytes(data)
    jpeg = jpeglib.read_dct(str(source))
    coefficients = getattr(jpeg, plane)
    component = ("Y", "Cb", "Cr").index(plane)
    step = int(jpeg.qt[jpeg.quant_tbl_no[component]][0, 0])
    units = round(levels * 8 / step)  # a block's mean is DC * step / 8
    per_mcu = MCU_BLOCKS if plane == "Y" else 1
    row, column = mcu[0] * per_mcu, mcu[1] * per_mcu
    coefficients[row : row + per_mcu, column:, 0, 0] += units
    coefficients[row + per_mcu :, :, 0, 0] += units
    jpeg.write_dct(str(target))
    return target.read_bytes()


def test_a_dc_offset_that_takes_black_below_zero_is_refused(
    faces_dir: Path, tmp_path: Path
) -> None:
    damaged = _dc_shifted(_jpeg_with_dark_band(faces_dir), tmp_path, "Y", (0, 6), -3)
    found = find_coefficient_damage(damaged)
    assert isinstance(found, DcOutOfRange), found
    assert found.component == "luma" and found.mean < -2 and found.row < 32
    with pytest.raises(ImageError) as caught:
        load_image(damaged, name="flipped.jpg")
    message = str(caught.value)
    assert "flipped.jpg" in message and "DC coefficient giving a mean of" in message
    assert "luma" in message


@pytest.mark.parametrize(("plane", "name"), [("Y", "luma"), ("Cr", "red chroma")])
def test_a_dc_offset_inside_the_range_is_refused_as_a_scan_order_step(
    faces_dir: Path, tmp_path: Path, plane: str, name: str
) -> None:
    undamaged = _jpeg_with_dark_band(faces_dir)
    assert find_coefficient_damage(undamaged) is None
    damaged = _dc_shifted(undamaged, tmp_path, plane, (7, 5), 8)
    found = find_coefficient_damage(damaged)
    assert isinstance(found, DcOffset), found
    assert found.component == name
    per_mcu = 16 if plane == "Y" else 8
    assert found.row == 7 * per_mcu and 6 < found.levels < 10 and found.agreement > 0.6
    with pytest.raises(ImageError, match=rf"its {name} is offset by \+\d+ levels from row"):
        load_image(damaged, name="flipped.jpg")


def test_a_jpeg_the_coefficient_reader_refuses_is_left_to_the_pixel_checks() -> None:
    """Bytes libjpeg's coefficient API cannot read give no verdict (and no exception)."""
    assert find_coefficient_damage(b"\xff\xd8\xff\xd9") is None


def test_reading_coefficients_writes_no_file(
    faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No temporary file is made (jpeglib's own load writes one): the photo stays in memory."""
    damaged = _dc_shifted(_jpeg_with_dark_band(faces_dir), tmp_path, "Y", (0, 6), -3)

    def no_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("a temporary file was made for a photo")

    for name in ("NamedTemporaryFile", "mkstemp", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_files)
    # the read still happens (a failed one would give None: no verdict)
    assert isinstance(find_coefficient_damage(damaged), DcOutOfRange)


def test_coefficients_read_from_many_threads_match_serial_reads(faces_dir: Path) -> None:
    """jpeglib is not thread-safe (two reads at once crashed the process): reads are serialised."""
    paths = sorted((faces_dir / "lfw-dev").rglob("*.jpg"))[:48]
    datas = [path.read_bytes() for path in paths]
    damaged = [_dc_shifted_in_memory(data) for data in datas[:8]]
    serial = [find_coefficient_damage(data) for data in datas + damaged]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(find_coefficient_damage, datas + damaged)) == serial
    assert all(found is None for found in serial[: len(datas)])
    assert all(found is not None for found in serial[len(datas) :])


def _dc_shifted_in_memory(data: bytes) -> bytes:
    """`data` with its luma darkened by 200 levels from the 8th block row on (DC out of range)."""
    with tempfile.TemporaryDirectory() as folder:
        return _dc_shifted(data, Path(folder), "Y", (4, 0), -200)
