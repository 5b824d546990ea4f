"""Once wrote beat's default schedule. The schedule now lives in optimus_site.schedule and is written
after every migrate (only the rows missing), so this migration is kept, empty, for the history of
databases that ran it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_sending_switch"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
