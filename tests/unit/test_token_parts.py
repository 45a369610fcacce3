"""Malformed API tokens are refused as such: never an OverflowError or ValueError."""

from __future__ import annotations

import pytest

from facetrail.core.access import PermissionDeniedError
from facetrail.core.identity import token_parts


@pytest.mark.parametrize(
    "token",
    [
        "ft_\u00b2_secret",  # a superscript two: str.isdigit() says yes, int() says no
        "ft_\uff11\uff12_secret",  # fullwidth digits
        "ft_\u0663_secret",  # Arabic-Indic three
        "ft_" + "9" * 400 + "_secret",  # huge: would overflow a database integer
        "ft_-1_secret",
        "ft__secret",
        "ft_12_",
    ],
)
def test_malformed_tokens_are_refused_cleanly(token: str) -> None:
    with pytest.raises(PermissionDeniedError, match="malformed"):
        token_parts(token)


def test_a_well_formed_token_is_split() -> None:
    assert token_parts("ft_42_s3cret") == (42, "s3cret")
