"""What a transaction holds: the Type-1 envelope, Type-2 fields and Type-10 face records."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from facetrail.media.images import DEFAULT_LIMITS, MEGABYTE, DecodedImage, ImageLimits, load_image
from facetrail.records.standard import COMPRESSIONS, FACE, SAP_UNKNOWN, WRITE_VERSION

# A Type-2 field: one text value, or subfields each holding one or more items.
FieldValue = str | tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """Bounds on a transaction; anything outside is refused before or while parsing."""

    max_bytes: int = 256 * MEGABYTE
    max_records: int = 1000
    image: ImageLimits = DEFAULT_LIMITS  # each Type-10 payload, as for an image file


DEFAULT_RECORD_LIMITS = RecordLimits()


@dataclass(frozen=True, slots=True)
class Envelope:
    """The Type-1 record: what the transaction is, who sent it to whom, and when."""

    type_of_transaction: str  # 1.004 TOT
    control_number: str  # 1.009 TCN
    originating_agency: str  # 1.008 ORI
    destination_agency: str  # 1.007 DAI
    date: date  # 1.005 DAT
    version: str = WRITE_VERSION  # 1.002 VER
    control_reference: str | None = None  # 1.010 TCR: the TCN this one answers
    priority: int | None = None  # 1.006 PRY, 1 (highest) to 9
    domain: tuple[str, str] | None = None  # 1.013 DOM: (name, version) of the Type-2 fields
    timestamp: datetime | None = None  # 1.014 GMT, timezone-aware UTC


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """One Type-10 record: the image bytes as sent and the capture fields facetrail keeps."""

    data: bytes = field(repr=False)  # 10.999 DATA, unchanged
    compression: str  # 10.011 CGA: JPEGB | JPEGL | PNG | JP2 | JP2L
    width: int  # 10.006 HLL, pixels
    height: int  # 10.007 VLL, pixels
    colour_space: str  # 10.012 CSP: GRAY | RGB | SRGB | YCC | SYCC | UNK
    source_agency: str  # 10.004 SRC
    capture_date: date  # 10.005 PHD
    sap: int | None = SAP_UNKNOWN  # 10.013 SAP; None only for a non-FACE image
    image_type: str = FACE  # 10.003 IMT
    idc: int = 1  # 10.002 IDC
    scale_units: int = 0  # 10.008 SLC: 0 aspect ratio only, 1 ppi, 2 ppcm
    horizontal_scale: int = 1  # 10.009 THPS
    vertical_scale: int = 1  # 10.010 TVPS
    pose: str | None = None  # 10.020 POS: F, R, L, A or D
    pose_offset: int | None = None  # 10.021 POA, degrees, with POS A
    comment: str | None = None  # 10.038 COM

    @property
    def format(self) -> str:
        """The payload format the compression code names: jpeg, png or jp2."""
        return COMPRESSIONS[self.compression]

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the image bytes (what 10.996 HAS carries)."""
        return hashlib.sha256(self.data).hexdigest()

    def decode(self, name: str, limits: ImageLimits = DEFAULT_LIMITS) -> DecodedImage:
        """The image decoded by facetrail's safe decoder, or ImageError naming `name`."""
        return load_image(self.data, name=name, limits=limits)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A whole transaction: envelope, the Type-2 fields by 'type.tag' number, face records."""

    envelope: Envelope
    type2: Mapping[str, FieldValue] = field(default_factory=dict)
    faces: tuple[FaceRecord, ...] = ()

    @property
    def face_images(self) -> tuple[FaceRecord, ...]:
        """The Type-10 records whose image type is FACE (those that can be enrolled)."""
        return tuple(face for face in self.faces if face.image_type == FACE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry of a search candidate list, as exchanged in a response transaction."""

    rank: int  # 1 = most similar
    reference: str  # the subject reference at the answering agency
    score: float
    name: str = ""  # given in the EBTS candidate list only when released
