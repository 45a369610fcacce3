"""Codes and field numbers of ANSI/NIST-ITL 1-2011 (Updates 2013 and 2015) that facetrail uses."""

from __future__ import annotations

from typing import Final

# 1.002 VER: the versions facetrail reads; it writes WRITE_VERSION.
VERSIONS: Final = {
    "0500": "ANSI/NIST-ITL 1-2011",
    "0501": "ANSI/NIST-ITL 1-2011 Update:2013",
    "0502": "ANSI/NIST-ITL 1-2011 Update:2015",
}
WRITE_VERSION: Final = "0502"

# Record types facetrail reads and writes (traditional encoding).
TYPE_1, TYPE_2, TYPE_10 = 1, 2, 10
SUPPORTED_TYPES: Final = frozenset({TYPE_1, TYPE_2, TYPE_10})

# 10.003 IMT image types; only FACE images are enrolled.
FACE: Final = "FACE"
IMAGE_TYPES: Final = frozenset({FACE, "SCAR", "MARK", "TATTOO"})

# 10.011 CGA compression codes allowed in a Type-10 record -> payload format they require.
COMPRESSIONS: Final = {"JPEGB": "jpeg", "JPEGL": "jpeg", "PNG": "png", "JP2": "jp2", "JP2L": "jp2"}
# The code written for each payload format (lossy JPEG 2000 unless told otherwise).
COMPRESSION_FOR_FORMAT: Final = {"jpeg": "JPEGB", "png": "PNG", "jp2": "JP2"}

# 10.012 CSP colour spaces; GRAY needs a one-channel image, the others a colour one.
GREY: Final = "GRAY"
COLOUR_SPACES: Final = frozenset({"UNK", GREY, "RGB", "SRGB", "YCC", "SYCC"})

# 10.013 SAP subject acquisition profiles (Table 37 of 1-2011).
SAP_UNKNOWN: Final = 0
SAP_LEVELS: Final = {
    0: "unknown profile",
    1: "surveillance facial image",
    10: "driver's licence image (AAMVA)",
    11: "ANSI full frontal facial image",
    12: "ANSI token facial image",
    13: "ISO full frontal facial image",
    14: "ISO token facial image",
    15: "PIV facial image",
    20: "legacy mugshot",
    30: "best practice application level 30",
    32: "best practice application level 32",
    40: "best practice application level 40",
    42: "best practice application level 42",
    50: "best practice application level 50",
    51: "best practice application level 51",
    52: "best practice application level 52",
}

# 10.020 POS subject pose: frontal, right/left profile, angled, determined 3D.
POSES: Final = frozenset({"F", "R", "L", "A", "D"})

# 10.008 SLC scale units: 0 = aspect ratio only, 1 = pixels per inch, 2 = per centimetre.
SCALE_UNITS: Final = frozenset({0, 1, 2})

# 1.015 DCS character set index for UTF-8 (Table 6); absent means 7-bit ASCII.
UTF8_CHARSET: Final = "003"

# Field limits (1-2011 record layouts).
MAX_IDC: Final = 99
MIN_LINE_LENGTH, MAX_LINE_LENGTH = 10, 99999
MAX_PIXEL_SCALE: Final = 99999
MAX_TOT_LENGTH: Final = 16
MAX_TCN_LENGTH: Final = 40
MAX_SOURCE_LENGTH: Final = 35

# Field numbers as "type.tag" strings, and their mnemonics for messages.
FIELD_NAMES: Final = {
    "1.001": "LEN",
    "1.002": "VER",
    "1.003": "CNT",
    "1.004": "TOT",
    "1.005": "DAT",
    "1.006": "PRY",
    "1.007": "DAI",
    "1.008": "ORI",
    "1.009": "TCN",
    "1.010": "TCR",
    "1.011": "NSR",
    "1.012": "NTR",
    "1.013": "DOM",
    "1.014": "GMT",
    "1.015": "DCS",
    "2.001": "LEN",
    "2.002": "IDC",
    "10.001": "LEN",
    "10.002": "IDC",
    "10.003": "IMT",
    "10.004": "SRC",
    "10.005": "PHD",
    "10.006": "HLL",
    "10.007": "VLL",
    "10.008": "SLC",
    "10.009": "THPS",
    "10.010": "TVPS",
    "10.011": "CGA",
    "10.012": "CSP",
    "10.013": "SAP",
    "10.020": "POS",
    "10.021": "POA",
    "10.038": "COM",
    "10.996": "HAS",
    "10.999": "DATA",
}

# facetrail's Type-2 fields (user-defined range, announced by 1.013 DOM = DOMAIN).
DOMAIN: Final = ("FACETRAIL", "1")
SUBJECT_FIELD: Final = "2.900"  # the subject reference of an exported subject
PROVENANCE_FIELD: Final = "2.901"  # subfields of (Type-10 IDC, key, value)
SCORES_FIELD: Final = "2.902"  # subfields of (rank, reference, score)
COUNT_FIELD: Final = "2.903"  # number of candidates in a response (0: no hit)
CANDIDATES_FIELD: Final = "2.064"  # EBTS CAN: subfields of (reference, name), in rank order
RESPONSE_TOT: Final = "SRE"  # EBTS search results


def field_label(tag: str) -> str:
    """'10.013 SAP' for a known field, the bare number otherwise."""
    name = FIELD_NAMES.get(tag)
    return f"{tag} {name}" if name else tag


def field_tag(record_type: int, number: int) -> str:
    """The 'type.tag' string of a field, e.g. field_tag(10, 13) == '10.013'."""
    return f"{record_type}.{number:03d}"
