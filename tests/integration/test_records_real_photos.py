"""Real photos (LFW JPEG, a face_recognition PNG) exported as Type-10 records and read back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import nistitl
import numpy as np

from facetrail.media.images import load_image
from facetrail.records import (
    Envelope,
    ExportImage,
    enrolment_of,
    read_transaction,
    subject_transaction,
    write_transaction,
)
from facetrail.records.standard import COLOUR_SPACES, COMPRESSIONS, IMAGE_TYPES, SAP_LEVELS

ENVELOPE = Envelope("CPDR", "TCN-LFW-1", "GB0010000", "NL0020000", date(2024, 5, 1))


def test_real_photos_round_trip(faces_dir: Path) -> None:
    paths = [
        faces_dir / "lfw-dev" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg",
        faces_dir / "face_recognition" / "Alex_Lacamoire" / "alex-lacamoire.png",
    ]
    originals = [path.read_bytes() for path in paths]
    images = [
        ExportImage(
            data=data,
            source_agency="LFW",
            capture_date=date(2007, 1, 1),
            provenance={"file": path.name},
        )
        for path, data in zip(paths, originals, strict=True)
    ]
    data = write_transaction(subject_transaction(ENVELOPE, "Aaron_Eckhart", images))

    message = nistitl.Message()  # read with nistitl directly, not through facetrail
    message.parse(data)
    assert message[0].VER == "0502"
    records = list(message.iter(10))
    assert len(records) == len(paths)
    for record, original in zip(records, originals, strict=True):
        assert record.IMT in IMAGE_TYPES and record.SRC == "LFW" and record.PHD == "20070101"
        decoded = load_image(record.DATA)
        assert (int(record.HLL), int(record.VLL)) == (decoded.width, decoded.height)
        assert record.SLC == "0" and record.THPS == "1" and record.TVPS == "1"
        assert record.CGA in COMPRESSIONS and record.CSP in COLOUR_SPACES
        assert int(record.SAP) in SAP_LEVELS
        assert original == record.DATA
        assert np.array_equal(decoded.pixels, load_image(original).pixels)

    plan = enrolment_of(read_transaction(data, "lfw.an2"), "lfw.an2", subject_field="2.900")
    assert plan.subject == "Aaron_Eckhart"
    for image, path in zip(plan.images, paths, strict=True):
        assert image.provenance["file"] == path.name
        decoded = image.record.decode(image.name("lfw.an2"))
        assert np.array_equal(decoded.pixels, load_image(path).pixels)
