"""The HTTP API (FastAPI): routes translate HTTP to service calls, errors to problem+json."""

from facetrail.interfaces.api.app import create_app

__all__ = ["create_app"]
