"""Federation messages, signatures, freshness and policies, without models or a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from facetrail.errors import InvalidInputError
from facetrail.security.freshness import StaleMessageError, check_fresh, check_nonce, new_nonce
from facetrail.security.messages import (
    decode,
    encode,
    envelope_fields,
    new_message,
    open_signed,
    seal,
)
from facetrail.security.signing import SignatureError, fingerprint, new_private_key, public_pem
from facetrail.security.tls import certificate_fingerprint, self_signed
from facetrail.services.federation_policy import PolicyRefusal, check_request, parse_policy

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _message(payload: bytes = b"\x00binary\xff") -> object:
    return new_message("search", "A", "B", "r1", NOW, {"max_candidates": 5}, payload)


def test_message_round_trips_through_its_exact_bytes() -> None:
    message = _message()
    assert decode(encode(message)) == message
    fields = envelope_fields(encode(message))
    assert fields["from"] == "A" and fields["to"] == "B" and "payload" not in fields


def test_signature_covers_every_byte() -> None:
    key = new_private_key()
    signed = seal(key, _message())
    assert open_signed(signed, lambda name: public_pem(key)).sender == "A"
    tampered = type(signed)(
        signed.body.replace(b'"max_candidates":5', b'"max_candidates":9'), "A", signed.signature
    )
    with pytest.raises(SignatureError, match="bad signature"):
        open_signed(tampered, lambda name: public_pem(key))


def test_unsigned_and_wrong_key_are_refused() -> None:
    key, other = new_private_key(), new_private_key()
    signed = seal(key, _message())
    with pytest.raises(SignatureError, match="unsigned"):
        open_signed(type(signed)(signed.body, "A", None), lambda name: public_pem(key))
    with pytest.raises(SignatureError, match="registered key"):
        open_signed(signed, lambda name: public_pem(other))


def test_sender_header_must_match_the_signed_body() -> None:
    key = new_private_key()
    signed = seal(key, _message())
    with pytest.raises(SignatureError, match="says it is from"):
        open_signed(type(signed)(signed.body, "C", signed.signature), lambda name: public_pem(key))


def test_freshness_window_and_nonce_shape() -> None:
    assert check_fresh((NOW - timedelta(seconds=30)).isoformat(), NOW)
    with pytest.raises(StaleMessageError, match="stale"):
        check_fresh((NOW - timedelta(minutes=6)).isoformat(), NOW)
    with pytest.raises(StaleMessageError, match="future"):
        check_fresh((NOW + timedelta(minutes=6)).isoformat(), NOW)
    with pytest.raises(StaleMessageError, match="time zone"):
        check_fresh("2026-12-01T09:00:00", NOW)
    assert check_nonce(new_nonce())
    with pytest.raises(StaleMessageError):
        check_nonce("1234")


def test_fingerprints_are_stable_and_distinct() -> None:
    key = new_private_key()
    assert fingerprint(public_pem(key)) == fingerprint(public_pem(key).encode())
    assert fingerprint(public_pem(key)) != fingerprint(public_pem(new_private_key()))
    _, cert = self_signed("UK-MPS")
    assert len(certificate_fingerprint(cert)) == 64


POLICY = b"""
galleries = ["custody", "licences"]
offence_categories = ["burglary", "murder"]
refused_purposes = ["immigration enforcement"]
max_candidates = 5
step2 = "approve"
"""


def test_policy_toml_with_defaults() -> None:
    policy = parse_policy(POLICY, "policy.toml")
    assert policy.galleries == ("custody", "licences")
    assert policy.max_candidates == 5 and policy.step2 == "approve"
    assert policy.deadline_hours == 48 and policy.min_score is None
    assert parse_policy(b'{"galleries": ["custody"]}', "p.json").max_candidates == 10


@pytest.mark.parametrize(
    "text,match",
    [
        (b'galleries = ["c"]\nmax_candidates = 101', "max_candidates"),
        (b'galleries = ["c"]\nmax_candidates = 0', "max_candidates"),
        (b'galleries = ["c"]\nstep2 = "later"', "step2"),
        (b'galleries = ["c"]\nmax_candidate = 3', "unknown key"),
        (b"galleries = []", "at least one"),
        (b'galleries = ["c"]\nmin_score = "high"', "min_score"),
        (b"not = [toml", "neither TOML nor JSON"),
    ],
)
def test_bad_policy_names_the_key(text: bytes, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_policy(text, "policy.toml")


def test_policy_rules_refuse_with_the_rule_broken() -> None:
    policy = parse_policy(POLICY, "policy.toml")
    ask = {
        "partner": "A",
        "galleries": (),
        "offence_category": "Burglary",
        "purpose": "x",
        "max_candidates": 5,
    }
    assert check_request(policy, **ask) == ("custody", "licences")
    with pytest.raises(PolicyRefusal, match="outside"):
        check_request(policy, **{**ask, "galleries": ("dna",)})
    with pytest.raises(PolicyRefusal, match="offence category 'fraud'"):
        check_request(policy, **{**ask, "offence_category": "fraud"})
    with pytest.raises(PolicyRefusal, match="refused"):
        check_request(policy, **{**ask, "purpose": "Immigration Enforcement"})
    with pytest.raises(PolicyRefusal, match="at most 5"):
        check_request(policy, **{**ask, "max_candidates": 6})
