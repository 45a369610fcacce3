"""The facetrail release, in one place (package metadata and reports read it)."""

__version__ = "0.1.0"
