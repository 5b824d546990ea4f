"""Load benchmark of the REST API: gunicorn (2 workers) on MariaDB, driven by wrk from a second process.

    python bench/api_load.py [--seconds 20] [--connections 4] [--mysql-url URL]

Three runs in one go, each against the same server:
- trivial view   GET /livez: Django answering with no database work (the ceiling)
- bulk events    POST /api/v1/events/bulk, 100 fresh events per request, API-key auth
- feedback       POST /api/v1/notifications/{id}/feedback, one per request, customer-token auth,
                 spread over 200 customers' notifications

Prints requests/s, events/s, p50 / p99 latency and errors, and writes bench/results/api_load.json.
Targets (issue 3): >= 5,000 events/s with p99 < 250 ms per batch; feedback >= 40 % of the trivial
view's requests/s with p99 < 100 ms; zero errors. Needs `wrk` (apt-get install wrk).
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "api_load.json"
DB_NAME = "optimus_bench_api"
N_CUSTOMERS, N_ITEMS, NOTIFICATIONS_PER_CUSTOMER = 200, 1000, 400

EVENTS_LUA = r"""
local counter = 0
local nonce = "%(nonce)s"
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
function init(args)
  math.randomseed(tonumber(tid))
end
function request()
  counter = counter + 1
  local rows = {}
  for i = 1, 100 do
    rows[i] = string.format(
      '{"event_id":"%%s-%%s-%%d-%%d","customer_id":"c%%d","type":"view","item_id":"i%%d","at":"%(at)s"}',
      nonce, tid, counter, i, math.random(1, %(customers)d), math.random(1, %(items)d))
  end
  return wrk.format("POST", "/api/v1/events/bulk", nil, '{"events":[' .. table.concat(rows, ",") .. ']}')
end
"""

FEEDBACK_LUA = r"""
local tokens = {%(tokens)s}
local first_ids = {%(first_ids)s}
local per_customer = %(per_customer)d
local actions = {"delivered", "opened", "dismissed"}
local counter = 0
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
function init(args)
  math.randomseed(tonumber(tid))
end
function request()
  counter = counter + 1
  local c = math.random(1, #tokens)
  local id = first_ids[c] + math.random(0, per_customer - 1)
  local body = string.format(
    '{"action":"%%s","at":"%(at)s","context":{"battery":%%d,"charging":false,"network":"wifi","app_state":"background"}}',
    actions[math.random(1, 3)], math.random(0, 100))
  return wrk.format("POST", "/api/v1/notifications/" .. id .. "/feedback",
    {["Authorization"] = "Bearer " .. tokens[c], ["Content-Type"] = "application/json"}, body)
end
"""


def prepare(database_url: str) -> dict:
    """Fresh database with an API key, customers with tokens, items and sent notifications."""
    env = server_env(database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    script = f"""
import json
from django.utils import timezone
from campaigns.models import Notification, NotificationType
from devices.models import Customer
from devices.services import api_key_create, customer_token_mint
from recommender.models import Item
_, key = api_key_create(name="bench")
Customer.objects.bulk_create([Customer(external_id=f"c{{i}}") for i in range(1, 10001)])
Item.objects.bulk_create([Item(external_id=f"i{{i}}", title=f"Item {{i}}") for i in range(1, {N_ITEMS + 1})])
kind = NotificationType.objects.get(slug="product-recommendation")
now = timezone.now()
tokens, first_ids = [], []
for customer in Customer.objects.order_by("id")[:{N_CUSTOMERS}]:
    tokens.append(customer_token_mint(customer=customer)[1])
    Notification.objects.bulk_create([
        Notification(customer=customer, notification_type=kind, idempotency_key=f"{{customer.pk}}:bench:{{n}}",
                     status="sent", scheduled_for=now, sent_at=now, title="t", body="b")
        for n in range({NOTIFICATIONS_PER_CUSTOMER})
    ])
    first_ids.append(Notification.objects.filter(customer=customer).order_by("id").first().pk)
print(json.dumps({{"key": key, "tokens": tokens, "first_ids": first_ids}}))
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def server_env(database_url: str, cache_url: str = "") -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        # As in production: throttle counters and authenticated credentials shared by the workers.
        CACHE_URL=cache_url,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PUSH_BACKEND="log",
        LOG_LEVEL="WARNING",
        # The throttle is part of the request path, so it stays on, with a budget the load fits in.
        THROTTLE_SERVER_RATE="10000000/minute",
        THROTTLE_MOBILE_RATE="10000000/minute",
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def processes_named(*names: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_snapshot(server_pgid: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the system under test (all share the 2 cores)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "gunicorn": sum(map(process_cpu_seconds, process_group(server_pgid))),
        "mariadb": sum(map(process_cpu_seconds, processes_named("mariadbd", "mysqld"))),
        "redis": sum(map(process_cpu_seconds, processes_named("redis-server"))),
        "wrk": children.ru_utime + children.ru_stime,
    }


def run_wrk(url: str, seconds: int, connections: int, script: str | None, headers: list[str], server_pgid: int) -> dict:
    """One wrk run; also reports the CPU milliseconds each component spent per request."""
    before = cpu_snapshot(server_pgid)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for header in headers:
        cmd += ["-H", header]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
    if script:
        cmd += ["-s", f.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    duration = to_ms(re.search(r"requests in ([\d.]+\w+),", out).group(1)) / 1000
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    after = cpu_snapshot(server_pgid)
    return {
        "requests": requests,
        "seconds": round(duration, 2),
        "requests_per_s": round(requests / duration, 1),
        "p50_ms": round(to_ms(latency["50"]), 2),
        "p99_ms": round(to_ms(latency["99"]), 2),
        "errors": errors,
        "cpu_ms_per_request": {part: round((after[part] - before[part]) * 1000 / requests, 3) for part in after},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=8, help="threads per gunicorn worker (gthread); 1 = the sync worker"
    )
    parser.add_argument("--mysql-url", default="mysql://root:@127.0.0.1:3306")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/13", help="flushed at the start")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    import MySQLdb

    u = urlparse(args.mysql_url)
    conn = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root", passwd=u.password or "")
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
    conn.cursor().execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    database_url = f"{u.scheme}://{u.netloc}/{DB_NAME}"
    print("preparing the database…", flush=True)
    fixtures = prepare(database_url)
    if args.cache_url:
        import redis

        redis.Redis.from_url(args.cache_url).flushdb()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["gunicorn", "optimus_site.wsgi", "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", *(["--worker-class", "gthread", "--threads", str(args.threads)]
                                     if args.threads > 1 else [])],
        cwd=ROOT, env=server_env(database_url, args.cache_url), start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_up(f"{base}/livez")
        at = (dt.datetime.now(tz=dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        events_script = EVENTS_LUA % {"nonce": os.urandom(4).hex(), "at": at, "customers": 10000, "items": N_ITEMS}
        feedback_script = FEEDBACK_LUA % {
            "tokens": ",".join(f'"{t}"' for t in fixtures["tokens"]),
            "first_ids": ",".join(map(str, fixtures["first_ids"])),
            "per_customer": NOTIFICATIONS_PER_CUSTOMER,
            "at": at,
        }
        runs = {}
        print("trivial view…", flush=True)
        runs["trivial view (GET /livez)"] = run_wrk(
            f"{base}/livez", args.seconds, args.connections, None, [], server.pid
        )
        print("bulk events…", flush=True)
        runs["bulk events, 100 per request"] = run_wrk(
            f"{base}/api/v1/events/bulk",
            args.seconds,
            args.connections,
            events_script,
            [f"Authorization: Api-Key {fixtures['key']}", "Content-Type: application/json"],
            server.pid,
        )
        print("feedback…", flush=True)
        runs["feedback, one per request"] = run_wrk(
            f"{base}/api/v1/", args.seconds, args.connections, feedback_script, [], server.pid
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)

    events = runs["bulk events, 100 per request"]
    events["events_per_s"] = round(events["requests_per_s"] * 100)
    trivial = runs["trivial view (GET /livez)"]["requests_per_s"]
    feedback = runs["feedback, one per request"]
    feedback["share_of_trivial"] = round(feedback["requests_per_s"] / trivial, 3)

    print(
        f"\nAPI load: gunicorn {args.workers} workers × {args.threads} threads, MariaDB, "
        f"wrk 2 threads × {args.connections} connections, {args.seconds} s each"
    )
    print(f"{'run':32} {'req/s':>9} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs trivial':>10}")
    for name, r in runs.items():
        print(
            f"{name:32} {r['requests_per_s']:>9,.0f} {r.get('events_per_s', ''):>9} {r['p50_ms']:>8.1f}"
            f" {r['p99_ms']:>8.1f} {r['errors']:>7} {r['requests_per_s'] / trivial:>10.2f}"
        )
    verdicts = {
        "events >= 5000/s": events["events_per_s"] >= 5000,
        "events p99 < 250 ms": events["p99_ms"] < 250,
        "feedback >= 40% of trivial": feedback["share_of_trivial"] >= 0.4,
        "feedback p99 < 100 ms": feedback["p99_ms"] < 100,
        "zero errors": all(r["errors"] == 0 for r in runs.values()),
    }
    print("\nCPU ms per request (all on the same cores):")
    parts = list(next(iter(runs.values()))["cpu_ms_per_request"])
    print(f"{'run':32} " + " ".join(f"{p:>9}" for p in parts) + f" {'total':>9}")
    for name, r in runs.items():
        cpu = r["cpu_ms_per_request"]
        print(f"{name:32} " + " ".join(f"{cpu[p]:>9.3f}" for p in parts) + f" {sum(cpu.values()):>9.3f}")
    for name, ok in verdicts.items():
        print(f"  {'met' if ok else 'NOT met':8} {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "api_load",
                "when": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "setup": {
                    "workers": args.workers,
                    "threads": args.threads,
                    "connections": args.connections,
                    "seconds": args.seconds,
                },
                "runs": runs,
                "targets": verdicts,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
