"""Connecting to the database (SQLite by default, PostgreSQL by URL) and migrating it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from facetrail.errors import StoreError
from facetrail.store.files import private_file

SQLITE_BUSY_TIMEOUT_MS = 30_000  # concurrent CLI processes wait for each other, not fail


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None hands transaction control to the "begin" hook below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages: an erased template is gone.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


# Readers map the database file (up to SQLite's usual 2 GB cap): a search's row lookups
# read pages from the mapping instead of a system call per page.
SQLITE_READ_MMAP_BYTES = 2_147_418_112


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA mmap_size={SQLITE_READ_MMAP_BYTES}")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN so read-then-write transactions (the audit chain's
    # "read last hash, append") never interleave between processes.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """A SQLAlchemy engine with facetrail's connection settings for the URL's backend.

    On SQLite a writer engine begins every transaction with BEGIN IMMEDIATE; a reader
    engine keeps SQLite's deferred BEGIN, so reads never wait for the write lock.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            private_file(Path(database))  # 0600; SQLite gives its -wal/-shm the same mode
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        if not writer:
            event.listen(engine, "connect", _sqlite_read_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate if writer else _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("facetrail.store") / "migrations")
    )
    return config


class Database:
    """The database behind one facetrail home: engine, sessions and migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            self.read_engine = (
                make_engine(url, writer=False)
                if self.engine.dialect.name == "sqlite"
                else self.engine
            )
        except (SQLAlchemyError, ValueError) as error:
            raise StoreError(f"cannot use database URL {url!r}: {error}") from error
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, home: Path | None = None) -> None:
        """Apply every pending Alembic migration (creates the schema on a new database).

        `home` tells data migrations which folder the stored file paths belong to.
        """
        config = _alembic_config()
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                config.attributes["home"] = str(home) if home is not None else None
                command.upgrade(config, "heads")
        except OperationalError as error:
            raise StoreError(f"cannot open the database at {self.url!r}: {error.orig}") from error

    def current_revisions(self) -> set[str]:
        """The migration revisions the database is at (empty for an empty database)."""
        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())

    def known_revisions(self) -> set[str]:
        """Every revision this facetrail's migrations know."""
        script = ScriptDirectory.from_config(_alembic_config())
        return {revision.revision for revision in script.walk_revisions()}

    @property
    def safe_url(self) -> str:
        """The URL with any password masked (for messages and logs)."""
        return self.engine.url.render_as_string(hide_password=True)

    def head_revisions(self) -> set[str]:
        """Every head of the migration graph (feature branches merge by `upgrade heads`)."""
        return set(ScriptDirectory.from_config(_alembic_config()).get_heads())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction released) at the end.

        Objects read stay usable afterwards, detached with what they loaded.
        """
        with self._read_sessions() as session:
            yield session

    def seal_rows_with(self, key: bytes) -> None:
        """Every session from now on MACs the security rows it writes with `key`."""
        from facetrail.store.row_seals import MAC_KEY_INFO  # registers the flush hook

        self._sessions.configure(info={MAC_KEY_INFO: key})
        self._read_sessions.configure(info={MAC_KEY_INFO: key})

    def forget_old_pages(self) -> None:
        """SQLite: fold the write-ahead log into the database and truncate it, so earlier
        versions of erased rows are not left in the log (no-op elsewhere)."""
        if self.dialect != "sqlite":
            return
        raw = self.engine.raw_connection()  # outside any transaction (autocommit)
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
