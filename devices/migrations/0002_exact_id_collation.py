"""Customer ids compare exactly on MySQL / MariaDB (see optimus_site.dbutils)."""

from django.db import migrations

from optimus_site.dbutils import make_columns_exact


class Migration(migrations.Migration):
    atomic = False  # DDL; MySQL cannot run it inside a transaction anyway
    dependencies = [("devices", "0001_initial")]
    operations = [
        migrations.RunPython(
            make_columns_exact(("devices_customer", "external_id", "varchar(191) NOT NULL")),
            migrations.RunPython.noop,
        )
    ]
