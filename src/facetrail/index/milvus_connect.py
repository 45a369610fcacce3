"""Milvus URLs (`milvus://host:port`), collection names, and clients with bounded timeouts."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from facetrail.errors import IndexError_

SCHEME = "milvus"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
CONNECT_ATTEMPTS = 3
CONNECT_RETRY_S = 0.5
DEFAULT_REQUEST_TIMEOUT_S = 60.0
# Milvus: names start with a letter or underscore, then letters, digits, underscores.
MAX_NAME_LENGTH = 255
_NAME_PREFIX = "facetrail"
_SLUG_CHARS = re.compile(r"[^A-Za-z0-9]+")
_SLUG_MAX = 64
_DIGEST_CHARS = 12
SERVER_HINT = "is the server running (milvus-lite server --data-dir DIR --port PORT)?"

T = TypeVar("T")
# pymilvus codes for a server that cannot be reached (connection refused, deadline).
_UNREACHABLE_CODES = frozenset({2, 1, 4, 14})


@dataclass(frozen=True)
class MilvusAddress:
    """A validated `milvus://host:port` address."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The address as a `milvus://` URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{SCHEME}://{host}:{self.port}"

    @property
    def grpc_uri(self) -> str:
        """The address in the `http://host:port` form pymilvus connects to."""
        return self.url.replace(f"{SCHEME}://", "http://", 1)


def parse_url(url: str) -> MilvusAddress:
    """Parse and validate `milvus://host:port` (port required; no path, query or user)."""
    if not isinstance(url, str) or not url:
        raise IndexError_(
            f"Milvus URL must be a non-empty string like milvus://host:19530, got {url!r}"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise IndexError_(f"invalid Milvus URL {url!r}: {exc}") from exc
    if parts.scheme != SCHEME:
        raise IndexError_(f"Milvus URL must start with {SCHEME}://, got {url!r}")
    if not parts.hostname:
        raise IndexError_(f"Milvus URL {url!r} names no host; use milvus://host:port")
    if port is None or port == 0:
        raise IndexError_(f"Milvus URL {url!r} needs a port in 1..65535, e.g. milvus://host:19530")
    if parts.username or parts.password:
        raise IndexError_(f"Milvus URL {url!r} must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise IndexError_(f"Milvus URL {url!r} must be only milvus://host:port (no path or query)")
    return MilvusAddress(parts.hostname, port)


def collection_name(gallery_id: int, model: str, namespace: str = "") -> str:
    """The Milvus collection of one (gallery, model): readable, valid and injective.

    `namespace` (letters and digits) keeps the collections of homes sharing one server
    apart: without it two homes' gallery 1 would be one collection.
    """
    if isinstance(gallery_id, bool) or not isinstance(gallery_id, int) or gallery_id < 0:
        raise IndexError_(f"gallery id must be a non-negative integer, got {gallery_id!r}")
    if not isinstance(model, str) or not model:
        raise IndexError_(f"model must be a non-empty string, got {model!r}")
    slug = _SLUG_CHARS.sub("_", model).strip("_")[:_SLUG_MAX] or "model"
    # The digest of the exact model string keeps names distinct when slugs collide.
    digest = hashlib.sha256(model.encode()).hexdigest()[:_DIGEST_CHARS]
    if namespace and not namespace.isalnum():
        raise IndexError_(f"namespace must be letters and digits, got {namespace!r}")
    home = f"_{namespace}" if namespace else ""
    name = f"{_NAME_PREFIX}{home}_g{gallery_id}_{slug}_{digest}"
    assert len(name) <= MAX_NAME_LENGTH
    return name


def connect(address: MilvusAddress, timeout_s: float) -> MilvusClient:
    """A client for address; an unreachable server raises IndexError_ naming the URL."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise IndexError_(f"Milvus connect timeout must be a positive number, got {timeout_s!r}")
    for _ in range(CONNECT_ATTEMPTS - 1):
        # pymilvus shares one channel per address; one the server dropped (a restart, or
        # gRPC's GOAWAY "too many pings" after a long idle spell) fails the first connect
        # and is replaced by a fresh channel on the next.
        try:
            return MilvusClient(uri=address.grpc_uri, timeout=float(timeout_s))
        except MilvusException:
            time.sleep(CONNECT_RETRY_S)
    try:
        return MilvusClient(uri=address.grpc_uri, timeout=float(timeout_s))
    except MilvusException as exc:
        raise IndexError_(
            f"cannot reach Milvus at {address.url} within {timeout_s:g} s: "
            f"{exc.message}; {SERVER_HINT}"
        ) from exc


def call(address: MilvusAddress, what: str, fn: Callable[[], T]) -> T:
    """Run one client call, turning pymilvus errors into IndexError_ naming URL and step."""
    try:
        return fn()
    except MilvusException as exc:
        raise failure(address, what, exc) from exc


def failure(address: MilvusAddress, what: str, exc: MilvusException) -> IndexError_:
    """The IndexError_ for a failed call: the URL, the step and Milvus's own message."""
    message = f"Milvus at {address.url}: {what} failed: {exc.message}"
    if exc.code in _UNREACHABLE_CODES:
        message += f"; {SERVER_HINT}"
    return IndexError_(message)
