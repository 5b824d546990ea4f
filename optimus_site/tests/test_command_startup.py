"""`manage.py dispatch` starts fast: it imports nothing of the ML stack, and on an up-to-date
database the schema check reads the migration table without loading every migration module."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from optimus_site import dbutils

PROBE = """
import os, sys, django
os.environ['DJANGO_SETTINGS_MODULE'] = 'optimus_site.settings'
django.setup()
from django.core.management import call_command
call_command('dispatch', stdout=open(os.devnull, 'w'))
heavy = sorted(m for m in ('pandas', 'scipy', 'sklearn', 'lightfm') if m in sys.modules)
migrations = sorted(m for m in sys.modules if '.migrations.0' in m)
print(heavy, len(migrations))
"""


def run_dispatch(tmp_path) -> str:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "CELERY_BROKER_URL": "",
           "OPTIMUS_ENV": "development"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_dispatch_sets_up_a_fresh_database_then_starts_without_the_ml_stack_or_the_migrations(tmp_path):
    run_dispatch(tmp_path)  # first call on an empty file: migrates (and loads the migrations, once)
    assert run_dispatch(tmp_path) == "[] 0"


@pytest.mark.django_db
def test_the_fast_schema_check_sees_an_unapplied_migration():
    assert dbutils._every_migration_file_applied()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'campaigns' AND name = '0001_initial'")
    assert not dbutils._every_migration_file_applied()
