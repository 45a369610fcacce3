"""Fuzzing the enrolment planner (hypothesis): any folder tree is planned without an
unexpected error, and every entry is either a photo to enrol or in the report with a reason."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facetrail.errors import FacetrailError
from facetrail.services.enrolment import plan
from facetrail.services.naming import displayable

FUZZ_SETTINGS = settings(
    max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + bytes(64)

# Names as raw bytes: any byte but NUL and "/", so not UTF-8, controls and bidi included.
name_bytes = (
    st.binary(min_size=1, max_size=24)
    .map(lambda b: b.replace(b"\x00", b"_").replace(b"/", b"_"))
    .filter(lambda b: b not in (b".", b".."))
)
interesting = st.sampled_from(
    [
        b"Tony_Blair",
        b"Tony_Blair ",
        "zero\u200bwidth".encode(),
        "bidi\u202eevil".encode(),
        "Tony_Bl\u0430ir".encode(),
        b"caf\xe9",
        b"[bold]x[red]",
        b"\x1b[31mred",
        b".hidden",
        b"x" * 210,
    ]
)
entry_kind = st.sampled_from(["jpeg", "png", "junk", "empty", "fifo", "socket", "dangling", "dir"])
tree = st.lists(
    st.tuples(
        st.one_of(interesting, name_bytes),
        st.lists(st.tuples(st.one_of(interesting, name_bytes), entry_kind), max_size=5),
    ),
    max_size=5,
)


def _make(path: bytes, kind: str) -> None:
    """One folder entry of the given kind at `path`."""
    if kind == "jpeg":
        Path(os.fsdecode(path)).write_bytes(JPEG_HEAD)
    elif kind == "png":
        Path(os.fsdecode(path)).write_bytes(PNG_HEAD)
    elif kind == "junk":
        Path(os.fsdecode(path)).write_bytes(b"not an image at all")
    elif kind == "empty":
        Path(os.fsdecode(path)).write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
    elif kind == "dangling":
        os.symlink(b"/nonexistent/target", path)
    else:
        os.mkdir(path)


@FUZZ_SETTINGS
@given(tree)
def test_any_folder_tree_is_planned_and_fully_accounted_for(
    folders: list[tuple[bytes, list[tuple[bytes, str]]]],
) -> None:
    root = Path(tempfile.mkdtemp(prefix="plan-fuzz-"))
    try:
        expected: set[str] = set()  # what must be planned or reported
        for folder, entries in folders:
            folder_path = os.fsencode(root) + b"/" + folder
            if os.path.lexists(folder_path):
                continue
            os.mkdir(folder_path)
            if folder.startswith(b"."):  # a hidden folder is reported as one entry
                expected.add(displayable(os.fsdecode(folder_path)))
            for name, kind in entries:
                path = folder_path + b"/" + name
                if os.path.lexists(path):
                    continue
                try:
                    _make(path, kind)
                except OSError:  # e.g. a socket path over the AF_UNIX length limit
                    continue
                if not folder.startswith(b"."):
                    expected.add(displayable(os.fsdecode(path)))
        try:
            tasks, items = plan(root, None)
        except FacetrailError as error:  # only a clear error, never an unexpected one
            assert str(error)
            return
        reported = {item.path for item in items}
        planned = {displayable(str(task.path)) for task in tasks}
        assert not reported & planned
        assert all(item.reason for item in items)
        for task in tasks:  # every photo planned is named validly
            assert task.subject == task.subject.strip() and task.subject.isprintable()
        missing = expected - reported - planned
        assert not missing, missing
    finally:
        shutil.rmtree(root, ignore_errors=True)
