#!/usr/bin/env bash
# The test command: lint, Django checks, then the whole suite on MariaDB and Redis.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k importer`).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
bash scripts/services.sh

export DATABASE_URL="${TEST_DATABASE_URL:-mysql://root:@127.0.0.1:3306/optimus}"
export CELERY_BROKER_URL="${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}"
export OPTIMUS_ENV=test

echo "==> ruff"
ruff check .
ruff format --check .
echo "==> django checks"
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run
echo "==> pytest on $DATABASE_URL with broker $CELERY_BROKER_URL"
python -m pytest "$@"
