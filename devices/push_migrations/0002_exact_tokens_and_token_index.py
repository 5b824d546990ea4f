"""Push tokens are case-sensitive and looked up on every registration.

On MySQL / MariaDB the token columns get the exact collation, and the TEXT ones a prefix index
(a TEXT column cannot be indexed whole, and UNIQUE_REG_ID cannot be used there). On SQLite a
plain index does. The model state is unchanged: these are storage details.
"""

from django.db import migrations

from optimus_site.dbutils import exact_collation

TEXT_TOKEN_TABLES = ["push_notifications_gcmdevice", "push_notifications_webpushdevice"]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    collation = exact_collation(connection)
    for table in TEXT_TOKEN_TABLES:
        if collation:
            schema_editor.execute(
                f"ALTER TABLE `{table}` MODIFY `registration_id` longtext CHARACTER SET utf8mb4 "
                f"COLLATE {collation} NOT NULL"
            )
            schema_editor.execute(f"CREATE INDEX `{table}_token` ON `{table}` (`registration_id`(191))")
        else:
            schema_editor.execute(f'CREATE INDEX "{table}_token" ON "{table}" ("registration_id")')
    if collation:
        schema_editor.execute(
            "ALTER TABLE `push_notifications_apnsdevice` MODIFY `registration_id` varchar(200) "
            f"CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
        )


def backwards(apps, schema_editor):
    quote = schema_editor.quote_name
    for table in TEXT_TOKEN_TABLES:
        schema_editor.execute(f"DROP INDEX {quote(table + '_token')}" + (f" ON {quote(table)}" if schema_editor.connection.vendor == "mysql" else ""))


class Migration(migrations.Migration):
    atomic = False  # DDL; MySQL cannot run it inside a transaction anyway
    dependencies = [("push_notifications", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
