"""Settings from the environment (FACETRAIL_*) or explicit arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PIPELINE = "yunet+sface"


class Settings(BaseSettings):
    """Where facetrail keeps its data and how it runs."""

    model_config = SettingsConfigDict(env_prefix="FACETRAIL_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".facetrail")
    database_url: str | None = None  # default: SQLite file under home
    pipeline: str = DEFAULT_PIPELINE
    user: str | None = None
    token: SecretStr | None = None  # API token of `user`, needed once the home has user accounts
    key: SecretStr | None = None  # encryption-at-rest keyring (see security/keyring.py)
    key_file: Path | None = None  # or a file holding it, one key per line, current first
    audit_key_file: Path | None = None  # Ed25519 audit signing key (default <home>/keys/)
    mac_key_file: Path | None = None  # MAC key of the security rows (default <home>/keys/)
    # Per authorisation kind: the lowest rank that may grant it and its longest validity.
    authorisation_rules: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "live_deployment": {"min_rank": "Superintendent", "max_valid_days": 1}
        }
    )
    workers: int = Field(default=2, ge=1, le=64)  # enrolment threads (the machine has 2 cores)
    # Native thread pools, set once per process when the first kernel starts: models run
    # in facetrail's own worker threads (one OpenCV thread each); FAISS batches use two.
    opencv_threads: int = Field(default=1, ge=1, le=64)
    index_threads: int = Field(default=2, ge=1, le=64)
    # Federation: how long one partner may take to answer a step-1 or step-2 message.
    federation_timeout: float = Field(default=10.0, gt=0, le=600)
    # Vector index of new galleries (`galleries create --index` overrides): auto = exact
    # FAISS up to `compress_above` templates, compressed (PQ fast-scan, exact re-ranking
    # from the re-ranking store) past it; milvus = a collection per (gallery, model) on
    # `index_url`.
    index_kind: Literal["auto", "exact", "compressed", "milvus"] = "auto"
    compress_above: int = Field(default=1_000_000, ge=0)
    compressed_factory: str = (
        "PQ64x4fs"  # FAISS factory of compressed galleries (re-ranked exactly)
    )
    # Compressed galleries past `partition_above` templates: PQ codes in IVF lists, a
    # probe scanning the `partitioned_nprobe` nearest lists (docs/scale.md).
    partition_above: int = Field(default=750_000, ge=0)
    partitioned_factory: str = "IVF8192,PQ64x4fs"
    partitioned_nprobe: int = Field(default=256, ge=1)
    index_url: str | None = None  # milvus://host:port (FACETRAIL_INDEX_URL / --index-url)
    milvus_index_type: str = "FLAT"  # FLAT (exact), HNSW, HNSW_SQ, IVF_FLAT, IVF_SQ8
    milvus_build_params: dict[str, int | float | str] = Field(default_factory=dict)  # JSON
    milvus_search_params: dict[str, int | float | str] = Field(default_factory=dict)  # JSON

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or the SQLite file in home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'facetrail.db'}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def photo_dir(self) -> Path:
        return self.home / "photos"
