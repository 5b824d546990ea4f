"""Database-specific touches that Django's field options cannot express portably."""


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
    missing table. On an up-to-date database it only reads the migration table."""
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    if stdout is not None:
        stdout.write("setting up the database schema (migrate)")
    call_command("migrate", verbosity=0, interactive=False)
