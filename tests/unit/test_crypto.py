"""Encryption at rest: keyrings, sealing, tamper detection, rotation of files."""

from __future__ import annotations

from pathlib import Path

import pytest

from facetrail.errors import InvalidInputError, StoreError
from facetrail.security import keyring as crypto
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.services.keys import reseal_file


def test_seal_open_round_trip_and_plaintext_passthrough() -> None:
    keyring = crypto.parse_keyring(crypto.generate_key(), "test")
    data = bytes(range(256)) * 4
    sealed = keyring.seal(data)
    assert crypto.is_sealed(sealed) and data not in sealed
    assert keyring.seal(data) != sealed  # fresh nonce every time
    assert keyring.open(sealed) == data
    assert keyring.open(data) == data  # written before encryption was turned on


def test_altered_ciphertext_or_unknown_key_is_refused() -> None:
    keyring = crypto.parse_keyring(crypto.generate_key(), "test")
    sealed = bytearray(keyring.seal(b"template bytes" * 10))
    sealed[-1] ^= 1
    with pytest.raises(StoreError, match="altered"):
        keyring.open(bytes(sealed), "a template")
    other = crypto.parse_keyring(crypto.generate_key(), "test")
    with pytest.raises(StoreError, match="not in the configured keyring"):
        other.open(keyring.seal(b"x" * 40))


def test_keyring_parsing_names_the_bad_key_without_echoing_it(tmp_path: Path) -> None:
    first, second = crypto.generate_key(), crypto.generate_key()
    keyring = crypto.parse_keyring(f"{first}, {second}", "$FACETRAIL_KEY")
    assert len(keyring.keys) == 2 and keyring.fingerprints[0] != keyring.fingerprints[1]
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current\n{second}\n{first}  # old\n")
    from_file = crypto.load_keyring(None, key_file)
    assert from_file is not None and from_file.current_id == crypto.key_id(keyring.keys[1])
    with pytest.raises(InvalidInputError, match="key 2 in test") as caught:
        crypto.parse_keyring(f"{first},not-a-key", "test")
    assert first not in str(caught.value)
    with pytest.raises(InvalidInputError, match="holds no key"):
        crypto.parse_keyring("# nothing\n", "test")
    with pytest.raises(InvalidInputError, match="cannot read key file"):
        crypto.load_keyring(None, tmp_path / "missing")
    assert crypto.load_keyring(None, None) is None


def test_sealers_are_instances_not_process_wide() -> None:
    keyring = crypto.parse_keyring(crypto.generate_key(), "test")
    assert PLAINTEXT.seal(b"abc") == b"abc"  # no key: unchanged
    sealer = Sealer(keyring)
    sealed = sealer.seal(b"abc" * 20)
    assert sealer.unseal(sealed) == b"abc" * 20
    with pytest.raises(StoreError, match="FACETRAIL_KEY"):
        PLAINTEXT.unseal(sealed)


def test_reseal_file_moves_it_to_the_current_key(tmp_path: Path) -> None:
    old = crypto.parse_keyring(crypto.generate_key(), "old")
    new_key = crypto.generate_key()
    both = crypto.Keyring((crypto.parse_keyring(new_key, "new").keys[0], old.keys[0]))
    path = tmp_path / "photo.jpg"
    path.write_bytes(old.seal(b"photo" * 100))
    assert reseal_file(path, both)
    assert both.sealed_with_current(path.read_bytes())
    assert not reseal_file(path, both)
    assert crypto.parse_keyring(new_key, "new").open(path.read_bytes()) == b"photo" * 100
