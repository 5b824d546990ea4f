#!/usr/bin/env bash
# The main job on the embedded default: SQLite, no servers. Sets itself up (virtualenv, database),
# loads the Online Retail sample, creates the admin/admin login and serves the admin at
# http://127.0.0.1:${PORT:-8000}/admin/. Rerunning is safe. Ctrl-C stops the server.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
unset DATABASE_URL CELERY_BROKER_URL
export PUSH_BACKEND=log DEBUG=true

python manage.py demo "$@"
echo
echo "Admin: http://127.0.0.1:${PORT:-8000}/admin/  (login admin / admin)"
if [ "${DEMO_NO_SERVE:-0}" = "1" ]; then
    exit 0
fi
exec python manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
