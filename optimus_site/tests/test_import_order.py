"""Every API module imports on its own, first, in a fresh interpreter.

Django loads the middleware, the CSRF failure view and DRF's settings in an order that depends on
what runs (a system check, a worker, a request); a cycle between them broke `manage.py check` in
CI but not on a machine that happened to import the parser first.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings

MODULES = [
    "optimus_site.api.errors",
    "optimus_site.api.parsers",
    "optimus_site.api.middleware",
    "optimus_site.api.exceptions",
    "optimus_site.api.schema",
    "optimus_site.urls",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_in_a_fresh_interpreter(module):
    code = f"import django; django.setup(); import {module}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "optimus_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
