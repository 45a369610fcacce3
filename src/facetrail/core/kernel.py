"""The kernel: everything one process needs to serve one home, built once, shared by threads."""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from facetrail.config import Settings
from facetrail.core import access, identity
from facetrail.core.access import PermissionDeniedError
from facetrail.core.analyzers import AnalyzerPool
from facetrail.core.audit import append_audit
from facetrail.core.clock import Clock
from facetrail.core.context import SINGLE_OPERATOR, Context
from facetrail.core.sealed_home import READ_ONLY_PERMISSIONS, seal_refusal
from facetrail.core.threads import configure_native_threads
from facetrail.core.unit_of_work import UnitOfWork
from facetrail.errors import AuthorisationError, FacetrailError, NotFoundError, StoreError
from facetrail.index.catalog import IndexCatalog, MilvusOptions
from facetrail.index.milvus_connect import parse_url
from facetrail.security.keyring import Keyring, load_keyring
from facetrail.security.sealing import Sealer
from facetrail.store.blobs import PhotoStore
from facetrail.store.calibration_store import stored_calibration
from facetrail.store.database import Database
from facetrail.store.files import make_private, private_dirs
from facetrail.store.row_seals import load_or_create_key, seal_all

log = logging.getLogger(__name__)

SQLITE_FILE = "facetrail.db"
HOME_NAMESPACE_CHARS = 12
MAC_KEY_NAME = "row-mac.key"


def home_namespace(home: Path, database_url: str) -> str:
    """A short name for this home on shared servers: its folder and database, hashed.

    A copied or moved home gets a new one, so its collections are rebuilt from its own
    database rather than shared with the original's.
    """
    key = f"{home.resolve()}|{database_url}".encode()
    return hashlib.sha256(key).hexdigest()[:HOME_NAMESPACE_CHARS]


class Kernel:
    """One home's database, indexes, file stores, models, keyring and clock.

    Safe to share among threads; each call brings its own `Context`. Opening never
    migrates: a missing home is created (and migrated) only when `create` is true, and a
    database at an older schema is refused with the command that upgrades it.
    """

    def __init__(self, settings: Settings, *, create: bool = False, migrate: bool = False) -> None:
        self.settings = settings
        self.home = settings.home
        self.clock = Clock()
        key = settings.key.get_secret_value() if settings.key else None
        self.keyring: Keyring | None = load_keyring(key, settings.key_file)
        self.sealer = Sealer(self.keyring)
        self._check_home_exists(create)
        private_dirs(self.home)
        make_private(self.home)  # a home made before is tightened too
        self.database = Database(settings.resolved_database_url)
        try:
            self._check_schema(create=create, migrate=migrate)
        except BaseException:
            self.database.dispose()
            raise
        # Without the home's key, nothing that writes may run (checked in `require`).
        self.seal_refusal = seal_refusal(self.home, self.keyring, self.database, settings.index_dir)
        self._seal_security_rows()
        configure_native_threads(settings.opencv_threads, settings.index_threads)
        if settings.index_url:
            parse_url(settings.index_url)  # a bad --index-url is refused before any work
        self.catalog = IndexCatalog(
            self.database,
            settings.index_dir,
            self.sealer,
            milvus=MilvusOptions(
                settings.index_url,
                settings.milvus_index_type,
                dict(settings.milvus_build_params),
                dict(settings.milvus_search_params),
                namespace=home_namespace(self.home, self.database.safe_url),
            ),
            compress_above=settings.compress_above,
            compressed_factory=settings.compressed_factory,
            partition_above=settings.partition_above,
            partitioned_factory=settings.partitioned_factory,
            partitioned_nprobe=settings.partitioned_nprobe,
        )
        self.photos = PhotoStore(settings.photo_dir, self.sealer, self.home)
        self.alert_crops = PhotoStore(self.home / "alerts", self.sealer, self.home)
        self.watchlist_references = PhotoStore(self.home / "watchlists", self.sealer, self.home)
        self.analyzers = AnalyzerPool(lambda spec: stored_calibration(self.database, spec))
        log.debug("kernel open: home=%s database=%s", self.home, self.database.dialect)

    # -- opening ---------------------------------------------------------------------

    def _check_home_exists(self, create: bool) -> None:
        if create or self.settings.database_url:
            return
        if not (self.home / SQLITE_FILE).is_file():
            raise NotFoundError(
                f"no facetrail home at {self.home} (no {SQLITE_FILE}): check --home /"
                f" $FACETRAIL_HOME, or create one with `facetrail init --home {self.home}`"
            )

    def _check_schema(self, *, create: bool, migrate: bool) -> None:
        current = self.database.current_revisions()
        heads = self.database.head_revisions()
        if current == heads:
            return
        if not current and not create and not migrate:
            raise NotFoundError(
                f"the database {self.database.safe_url} holds no facetrail home: create one"
                f" with `facetrail init` (or a command that writes, e.g. enrol)"
            )
        if current and not migrate:
            unknown = current - self.database.known_revisions()
            if unknown:
                raise StoreError(
                    f"the database schema ({', '.join(sorted(unknown))}) is newer than this"
                    " facetrail: upgrade facetrail"
                )
            raise StoreError(
                f"the database schema is older than this facetrail ({', '.join(sorted(current))}"
                f" -> {', '.join(sorted(heads))}): run `facetrail db upgrade --home {self.home}`"
                " (back the home up first)"
            )
        self.database.upgrade(home=self.home)
        log.info("database migrated to %s", ", ".join(sorted(heads)))

    def _seal_security_rows(self) -> None:
        """Load (or, in a writable home, create) the MAC key of users, tokens, authorisations."""
        path = self.settings.mac_key_file or self.home / "keys" / MAC_KEY_NAME
        if self.seal_refusal and not path.is_file():
            return  # nothing can be written here anyway
        key, created = load_or_create_key(path)
        self.database.seal_rows_with(key)
        if created:  # first meeting: the rows as they stand are trusted from now on
            with self.database.transaction() as session:
                sealed = seal_all(session, key)
            log.info("security rows sealed with a new MAC key (%s rows): %s", sealed, path)

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Save open indexes and release the database."""
        try:
            self.catalog.close()
        finally:
            self.database.dispose()

    # -- callers ---------------------------------------------------------------------

    def accounts_exist(self) -> bool:
        """Whether the home has user accounts (else it is a single-operator home)."""
        with self.database.reader() as session:
            return identity.accounts_exist(session)

    def single_operator(self, user: str | None = None) -> Context:
        """The caller of a home without accounts: `user`, else the configured / OS user."""
        return Context(
            actor=user or self.settings.user or getpass.getuser(), auth_method=SINGLE_OPERATOR
        )

    def authenticate(self, user: str | None, token: str | None) -> Context:
        """The caller's Context: single-operator without accounts, else the token's user.

        A failed sign-in gives a Context that carries the refusal, so that every call made
        with it is refused and audited under the name given.
        """
        with self.database.reader() as session:
            if not identity.accounts_exist(session):
                return self.single_operator(user)
            try:
                return identity.authenticate(session, user, token)
            except PermissionDeniedError as error:
                return replace(self.single_operator(user), refusal=str(error))

    def refresh(self, context: Context) -> Context:
        """The same caller re-checked now (token revoked, user disabled, role changed)."""
        with self.database.reader() as session:
            return identity.refresh(session, context)

    def check_writable(self) -> None:
        """Refuse, before anything is written, a process without the home's key."""
        if self.seal_refusal:
            log.info("write refused: %s", self.seal_refusal)
            raise StoreError(self.seal_refusal)

    def require(self, context: Context, permission: str) -> None:
        """Refuse (and audit the refusal) unless the caller's role holds `permission`.

        A home without user accounts is a single-operator home: everything is allowed,
        but a single-operator caller is refused once accounts exist.
        """
        if permission not in READ_ONLY_PERMISSIONS:
            self.check_writable()
        try:
            if context.role is None:
                if context.refusal:
                    raise PermissionDeniedError(context.refusal)
                if self.accounts_exist():
                    identity.authenticate_required()
                return
            access.check(context.role, permission, context.actor)
        except PermissionDeniedError as error:
            with self.database.transaction() as session:
                append_audit(
                    session,
                    actor=context.actor,
                    action="access.denied",
                    outcome="refused",
                    target=permission,
                    details={"reason": str(error)},
                )
            log.info("access denied: actor=%s permission=%s", context.actor, permission)
            raise

    # -- units of work ---------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, context: Context) -> Iterator[UnitOfWork]:
        """A transaction audited as `context`; its after-commit hooks run once it commits."""
        with self.database.transaction() as session:
            work = UnitOfWork(session, context)
            yield work
        work.run_after_commit()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session."""
        with self.database.reader() as session:
            yield session

    @contextmanager
    def audited_failure(
        self,
        context: Context,
        action: str,
        gallery: str | None = None,
        authorisation_id: int | None = None,
    ) -> Iterator[None]:
        """Record refusals and failures of an operation in their own committed entry."""
        try:
            yield
        except FacetrailError as error:
            outcome = "refused" if isinstance(error, AuthorisationError) else "failed"
            with self.unit_of_work(context) as work:
                work.audit(
                    action,
                    outcome,
                    gallery=gallery,
                    authorisation_id=authorisation_id,
                    details={"reason": str(error)},
                )
            log.info("%s %s: actor=%s", action, outcome, context.actor)
            raise
