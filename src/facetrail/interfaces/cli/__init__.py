"""The `facetrail` command line."""

from facetrail.interfaces.cli.main import app, main

__all__ = ["app", "main"]
