#!/usr/bin/env bash
# The main job on the embedded default: SQLite, no servers. Sets itself up (virtualenv, database),
# runs the whole loop on a simulated population (train, plan, dispatch through the log backend,
# phones answering), prints the effectiveness summary, creates the admin/admin login and serves the
# admin at http://127.0.0.1:${PORT:-8000}/admin/ (dashboard filled). Rerunning is safe. Ctrl-C stops.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
unset CELERY_BROKER_URL
# Its own SQLite file: the simulation owns every customer in it.
export DATABASE_URL="sqlite:///$(pwd)/demo.sqlite3"
export PUSH_BACKEND=log DEBUG=true LOG_LEVEL=WARNING

python manage.py demo "$@"
echo
echo "Admin: http://127.0.0.1:${PORT:-8000}/admin/  (login admin / admin)"
if [ "${DEMO_NO_SERVE:-0}" = "1" ]; then
    exit 0
fi
exec python manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
