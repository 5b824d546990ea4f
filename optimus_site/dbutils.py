"""Database-specific touches that Django's field options cannot express portably, and what every
data command does first (set the schema up, read its clock). Light on purpose: `manage.py dispatch`
imports this and must start in well under a second, without pandas or the models."""

import datetime as dt
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def exact_collation(connection) -> str | None:
    """A MySQL / MariaDB collation that compares ids byte for byte: case, accents and trailing
    spaces all count. The default utf8mb4_unicode_ci would make "SKU-1" and "sku-1 " the same
    item, and would make unassigned code points equal to each other."""
    if connection.vendor != "mysql":
        return None  # SQLite compares text exactly already
    if connection.mysql_is_mariadb:
        return "utf8mb4_nopad_bin"
    return "utf8mb4_0900_bin" if connection.mysql_version >= (8, 0, 0) else "utf8mb4_bin"


def make_columns_exact(*columns: tuple[str, str, str]):
    """A RunPython callable that gives (table, column, "varchar(N) NOT NULL"-style type) columns
    the exact collation on MySQL / MariaDB. Indexes on the columns are kept."""

    def forwards(apps, schema_editor):
        collation = exact_collation(schema_editor.connection)
        if collation is None:
            return
        for table, column, column_type in columns:
            kind, _, rest = column_type.partition(" ")
            schema_editor.execute(
                f"ALTER TABLE `{table}` MODIFY `{column}` {kind} CHARACTER SET utf8mb4 COLLATE {collation} {rest}"
            )

    return forwards


def ensure_schema(stdout=None) -> None:
    """Applies unapplied migrations, so a data command run first on a fresh database (the default
    SQLite file, or an outside check's empty MySQL) sets the schema up instead of failing on a
    missing table. On an up-to-date database it reads the migration table and lists the migration
    files: loading every migration module (what Django's executor does) took seconds on each call."""
    if _every_migration_file_applied():
        return
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    if stdout is not None:
        stdout.write("setting up the database schema (migrate)")
    call_command("migrate", verbosity=0, interactive=False)


def _every_migration_file_applied() -> bool:
    """True when each installed app's migration files (by name, as Django's loader finds them: the
    package's modules not starting with _ or ~) are all recorded as applied. Anything unusual — a
    missing table, a migration package that is not a directory — answers False, and the caller
    asks Django's executor, which knows every case."""
    import importlib
    import pkgutil

    from django.apps import apps
    from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
    from django.db.migrations.loader import MigrationLoader

    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = set(cursor.fetchall())
    except DatabaseError:
        return False
    for app_config in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(app_config.label)
        if module_name is None:
            continue
        try:
            package = importlib.import_module(module_name)  # the package's __init__ only
        except ImportError:
            continue  # an app without migrations
        if not hasattr(package, "__path__"):
            return False
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg or info.name[0] in "_~":
                continue
            if (app_config.label, info.name) not in applied:
                return False
    return True


def parse_moment(value: str, option: str) -> dt.datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option} {value!r} is not a date (2026-11-01) or an ISO time (2026-11-01T09:00Z)")
        moment = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


# MariaDB's answers when two transactions waited on each other's locks: 1213 (deadlock: one of
# them was rolled back) and 1205 (lock wait timeout). The whole transaction is gone in both cases.
LOCK_CONFLICTS = (1213, 1205)
T = TypeVar("T")


def retrying_lock_conflicts(transaction_fn: Callable[[], T], *, attempts: int = 4) -> T:
    """Runs ``transaction_fn`` (which must open and commit its own transaction, and be safe to run
    again: idempotent inserts, a fresh read) and runs it again, after a short random pause, when the
    database rolled it back for a lock conflict. The last attempt's error is raised."""
    from django.db import OperationalError

    for attempt in range(1, attempts + 1):
        try:
            return transaction_fn()
        except OperationalError as exc:
            if not exc.args or exc.args[0] not in LOCK_CONFLICTS or attempt == attempts:
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 (jitter, not security)
    raise AssertionError("unreachable")
