#!/usr/bin/env bash
# Makes sure MariaDB and Redis are answering on 127.0.0.1 (starting them if installed but down)
# and creates the `optimus` database. Used by the test command and CI.
set -euo pipefail

if ! mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
    echo "==> starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 60); do mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1 && break; sleep 1; done
fi
mysqladmin -h127.0.0.1 -uroot ping >/dev/null || { echo "MariaDB is not answering on 127.0.0.1:3306" >&2; exit 1; }

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "==> starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
redis-cli -h 127.0.0.1 ping >/dev/null || { echo "Redis is not answering on 127.0.0.1:6379" >&2; exit 1; }

mysql -h127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS optimus CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
