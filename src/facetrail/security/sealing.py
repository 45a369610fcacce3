"""Sealing stored biometric data with one home's keyring (or passing it through when off)."""

from __future__ import annotations

from dataclasses import dataclass

from facetrail.errors import StoreError
from facetrail.security.keyring import Keyring, is_sealed


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens blobs with a home's keyring; without one, bytes pass unchanged."""

    keyring: Keyring | None = None

    @property
    def enabled(self) -> bool:
        return self.keyring is not None

    def seal(self, data: bytes) -> bytes:
        """`data` sealed under the current key, unchanged when encryption is off."""
        return self.keyring.seal(data) if self.keyring else data

    def unseal(self, blob: bytes, what: str = "data") -> bytes:
        """The plaintext of a stored blob (sealed or not)."""
        if not is_sealed(blob):
            return blob
        if self.keyring is None:
            raise StoreError(
                f"{what} is encrypted at rest; set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE to read it"
            )
        return self.keyring.open(blob, what)


PLAINTEXT = Sealer()
