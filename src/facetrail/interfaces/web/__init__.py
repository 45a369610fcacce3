"""The operator web console: server-rendered pages, vendored htmx, SSE alerts."""

from facetrail.interfaces.web.console import install_console

__all__ = ["install_console"]
