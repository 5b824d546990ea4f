"""Catalog and event ids compare exactly on MySQL / MariaDB (see optimus_site.dbutils)."""

from django.db import migrations

from optimus_site.dbutils import make_columns_exact


class Migration(migrations.Migration):
    atomic = False  # DDL; MySQL cannot run it inside a transaction anyway
    dependencies = [("recommender", "0002_seed_segments")]
    operations = [
        migrations.RunPython(
            make_columns_exact(
                ("recommender_category", "external_id", "varchar(64) NOT NULL"),
                ("recommender_item", "external_id", "varchar(191) NOT NULL"),
                ("recommender_event", "event_id", "varchar(64) NOT NULL"),
            ),
            migrations.RunPython.noop,
        )
    ]
