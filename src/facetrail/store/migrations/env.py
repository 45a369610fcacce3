"""Alembic environment: migrations run on the connection facetrail hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import facetrail.store.calibration_models  # registers the calibrations table
import facetrail.store.erasure_models  # registers the erasure journal
import facetrail.store.federation_models  # registers the federation tables
import facetrail.store.live_models
import facetrail.store.row_seals  # noqa: F401  (registers the security row MACs)
from facetrail.store import oversight_models  # noqa: F401  (registers its tables)
from facetrail.store.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line: use sqlalchemy.url
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own_connection:
            context.configure(
                connection=own_connection,
                target_metadata=target_metadata,
                render_as_batch=True,
            )
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


run_migrations()
