#!/usr/bin/env bash
# The main job on the embedded default: SQLite, no servers. Sets itself up (virtualenv, database),
# runs the whole loop on a simulated population (train, plan, dispatch through the log backend,
# phones answering), prints the effectiveness summary, creates the admin/admin login and serves the
# admin at http://127.0.0.1:${PORT:-8000}/admin/ (dashboard filled). Rerunning is safe. Ctrl-C stops.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
unset CELERY_BROKER_URL
# Its own SQLite file: the simulation owns every customer in it. The real Online Retail data gets a
# second file, so neither run finds the other's customers or merges catalogues by id on a rerun.
DEMO_DB="demo.sqlite3"
for arg in "$@"; do
    if [ "$arg" = "--online-retail" ]; then
        DEMO_DB="demo-online-retail.sqlite3"
    fi
done
export DATABASE_URL="sqlite:///$(pwd)/$DEMO_DB"
export PUSH_BACKEND=log DEBUG=true LOG_LEVEL=WARNING

python manage.py demo "$@"
echo
echo "Admin: http://127.0.0.1:${PORT:-8000}/admin/  (login admin / admin)"
echo "Database: DATABASE_URL=$DATABASE_URL python manage.py ..."
if [ "${DEMO_NO_SERVE:-0}" = "1" ]; then
    exit 0
fi
exec python manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
