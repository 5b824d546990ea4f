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

# --- React Native SDK (sdk/react-native) ----------------------------------------------------
# Its end-to-end test against a live server ran with pytest above (tests/test_sdk_e2e.py); here:
# a clean install from the lock file, the build, the Node test runner, and tsc for the package
# and the example app. Needs Node 18+ and npm (only the npm registry is used).
echo "==> React Native SDK: npm ci, build, tests, tsc (package and example)"
command -v npm >/dev/null || { echo "npm is needed for sdk/react-native (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }
(
    cd sdk/react-native
    npm ci --no-audit --no-fund
    npm run build
    npm test
    npx tsc --noEmit -p tsconfig.json
    npx tsc --noEmit -p example/tsconfig.json
)
