"""Every error class carries the HTTP status the API answers with (problem+json)."""

from __future__ import annotations

import pytest

from facetrail import errors
from facetrail.core.access import PermissionDeniedError
from facetrail.interfaces.api.problems import status_of
from facetrail.media.video import VideoError

EXPECTED = {
    errors.FacetrailError: 400,
    errors.InvalidInputError: 422,
    errors.ImageError: 422,
    errors.RecordError: 422,
    errors.NoFaceError: 422,
    errors.ModelError: 503,
    errors.NonFiniteValueError: 503,
    errors.NotFoundError: 404,
    errors.AuthorisationError: 403,
    PermissionDeniedError: 403,
    errors.AuthenticationError: 401,
    errors.StoreError: 503,
    errors.IndexError_: 503,
    errors.ConflictError: 409,
    errors.PayloadTooLargeError: 413,
    errors.UnsupportedMediaError: 415,
    errors.BusyError: 503,
    VideoError: 422,
}


@pytest.mark.parametrize("error_class,status", EXPECTED.items(), ids=lambda v: str(v))
def test_each_error_class_has_its_status(error_class: type, status: int) -> None:
    assert error_class.http_status == status


def test_every_error_class_in_errors_is_listed() -> None:
    declared = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.FacetrailError)
    }
    assert declared <= set(EXPECTED)


def test_status_of_an_instance_and_busy_carries_retry_after() -> None:
    assert status_of(errors.NotFoundError("no such gallery")) == 404
    busy = errors.BusyError("full", retry_after=3)
    assert status_of(busy) == 503 and busy.retry_after == 3
    assert str(errors.ConflictError("gallery 'x' already exists")) == "gallery 'x' already exists"
