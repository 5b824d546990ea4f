"""Planning and sending throughput: plan N customers, then dispatch their notifications through real
Celery workers and Redis to the loopback FCM gateway, with the real firebase-admin client code.

    python bench/send_throughput.py [--customers 20000] [--workers 2]

Reports, in one run:
- the gateway's own ceiling: the FCM backend (firebase-admin's send_each) sending N messages
  straight to the gateway process (no database, no Celery), from one client process and from as
  many as there are worker processes — about the most any dispatch through the real client code
  can reach on this machine;
- planning: customers/s of one `plan` pass in this process, and sharded by customer-id range over
  the Celery workers (what the hourly `campaigns.plan` task does);
- dispatch: pushes/s from the dispatcher's claim to the last delivery stored, through Celery
  workers on the `send` queue (Redis broker), and the share of the gateway's ceiling.
Checks that every notification was delivered exactly once (gateway record vs deliveries).
Targets (issue 6): >= 2,000 pushes/s and planning >= 5,000 customers/s.
Writes bench/results/send_throughput.json.
"""

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "send_throughput.json"
DB_NAME = "optimus_bench_send"
NOW = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (prefork children)")
    parser.add_argument("--mysql-url", default="mysql://root:@127.0.0.1:3306")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12", help="flushed at the start")
    args = parser.parse_args()

    import MySQLdb
    import redis

    u = urlparse(args.mysql_url)
    conn = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root", passwd=u.password or "")
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
    conn.cursor().execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    redis.Redis.from_url(args.broker).flushdb()
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        record = f.name
    port = free_port()

    from django.core.management import call_command

    os.environ.update(
        DATABASE_URL=f"{u.scheme}://{u.netloc}/{DB_NAME}",
        CELERY_BROKER_URL=args.broker,
        PUSH_BACKEND="fcm",
        FCM_ENDPOINT=f"http://127.0.0.1:{port}",
        FCM_PROJECT_ID="optimus-bench",
        DJANGO_SETTINGS_MODULE="optimus_site.settings",
        LOG_LEVEL="WARNING",
        PLAN_CONTROL_SHARE="0",
        PLAN_EXPLORATION="0",
    )
    import django

    django.setup()
    print("preparing the database…", flush=True)
    call_command("migrate", verbosity=0)
    populate(args.customers)

    results = {}
    # The provider is another process, as a real one is another machine.
    gateway = subprocess.Popen(
        [sys.executable, "manage.py", "loopback_gateway", "--port", str(port), "--record", record, "--seed", "1"],
        cwd=ROOT, env=dict(os.environ), start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "optimus_site", "worker", "-Q", "plan,send", "-c", str(args.workers),
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=dict(os.environ), start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(5)  # let the gateway listen and the workers connect
        print("gateway ceiling…", flush=True)
        results["gateway_ceiling_one_client"] = gateway_ceiling(args.customers, 1, gateway.pid)
        results["gateway_ceiling"] = gateway_ceiling(args.customers, args.workers, gateway.pid)
        Path(record).write_text("")  # the ceiling's messages are not the dispatch's

        from campaigns import planner
        from campaigns.models import Notification
        from campaigns.tasks import plan_shard

        print("planning in this process…", flush=True)
        started = time.perf_counter()
        report = planner.plan(now=NOW)
        seconds = time.perf_counter() - started
        results["planning_one_process"] = {
            "customers": report.customers,
            "planned": report.planned,
            "seconds": round(seconds, 2),
            "customers_per_s": round(report.customers / seconds),
        }
        Notification.objects.all().delete()
        print(f"planning sharded over {args.workers} Celery worker processes…", flush=True)
        started = time.perf_counter()
        shards = [
            plan_shard.delay(NOW.isoformat(), first, last) for first, last in planner.shard_ranges(args.workers * 4)
        ]
        planned = sum(shard.get(timeout=600)["planned"] for shard in shards)
        seconds = time.perf_counter() - started
        results["planning"] = {
            "customers": args.customers,
            "planned": planned,
            "shards": len(shards),
            "seconds": round(seconds, 2),
            "customers_per_s": round(args.customers / seconds),
        }

        print("dispatching through Celery workers…", flush=True)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "manage.py", "dispatch", "--now", (NOW + dt.timedelta(days=1)).isoformat()],
            cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    finally:
        for process in (worker, gateway):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    sent = json.loads(out.stdout[: out.stdout.rindex("}") + 1])
    results["dispatch"] = {
        "notifications": sent["notifications"],
        "sent": sent["sent"],
        "deliveries": sent["delivered"],
        "seconds": round(seconds, 2),
        "pushes_per_s": round(sent["delivered"] / seconds),
        "share_of_ceiling": round(sent["delivered"] / seconds / results["gateway_ceiling"]["pushes_per_s"], 3),
    }
    results["exactly_once"] = exactly_once(record)

    print(f"\nSend throughput: {args.customers:,} customers, one FCM device each, MariaDB, Redis, "
          f"{args.workers} Celery worker processes, loopback FCM gateway")  # fmt: skip
    print(f"{'step':28} {'count':>8} {'seconds':>8} {'per second':>11}")
    c = results["gateway_ceiling_one_client"]
    print(f"{'ceiling, 1 client process':28} {c['messages']:>8,} {c['seconds']:>8.2f} {c['pushes_per_s']:>11,}")
    c = results["gateway_ceiling"]
    name = f"ceiling, {c['client_processes']} client processes"
    print(f"{name:28} {c['messages']:>8,} {c['seconds']:>8.2f} {c['pushes_per_s']:>11,}")
    p = results["planning_one_process"]
    print(f"{'planning, one process':28} {p['customers']:>8,} {p['seconds']:>8.2f} {p['customers_per_s']:>11,}")
    p = results["planning"]
    print(f"{'planning, sharded workers':28} {p['customers']:>8,} {p['seconds']:>8.2f} {p['customers_per_s']:>11,}")
    d = results["dispatch"]
    print(f"{'dispatch (pushes)':28} {d['deliveries']:>8,} {d['seconds']:>8.2f} {d['pushes_per_s']:>11,}"
          f"   {d['share_of_ceiling']:.0%} of the {c['client_processes']}-process ceiling")  # fmt: skip
    print(f"CPU per push at the ceiling: firebase-admin client {c['client_cpu_ms_per_push']:.2f} ms, "
          f"gateway {c['gateway_cpu_ms_per_push']:.2f} ms ({os.cpu_count()} cores)")  # fmt: skip
    print(f"exactly once: {results['exactly_once']}")
    verdicts = {
        "dispatch >= 2000 pushes/s": d["pushes_per_s"] >= 2000,
        "planning >= 5000 customers/s": p["customers_per_s"] >= 5000,
        "every notification delivered exactly once": results["exactly_once"]["ok"],
    }
    for name, ok in verdicts.items():
        print(f"  {'met' if ok else 'NOT met':8} {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "send_throughput",
                "when": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "setup": {"customers": args.customers, "worker_processes": args.workers},
                "results": results,
                "targets": verdicts,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate(n: int) -> None:
    """n customers in one segment, each with one FCM device and a profile ranking 08:00 local first."""
    from push_notifications.models import GCMDevice

    from devices.models import Customer, Device
    from recommender.models import CustomerProfile, Item, Segment

    Item.objects.bulk_create([Item(external_id=f"sku-{i}", title=f"Product {i}") for i in range(50)])
    Customer.objects.bulk_create(
        [Customer(external_id=f"c{i}", timezone="Europe/Berlin") for i in range(n)], batch_size=5000
    )
    pks = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    GCMDevice.objects.bulk_create(
        [GCMDevice(user_id=pk, registration_id=f"tok-{pk}", cloud_message_type="FCM", active=True) for pk in pks],
        batch_size=5000,
    )
    by_user = dict(GCMDevice.objects.values_list("user_id", "pk"))
    Device.objects.bulk_create(
        [Device(customer_id=pk, platform="fcm", push_device_id=by_user[pk]) for pk in pks], batch_size=5000
    )
    segment = Segment.objects.get(slug="loyal")
    first = [d * 24 + 8 for d in range(7)]
    ranking = first + [h for h in range(168) if h not in first]
    CustomerProfile.objects.bulk_create(
        [
            CustomerProfile(
                customer_id=pk,
                segment=segment,
                top_items=[{"item_id": f"sku-{(pk + j) % 50}", "score": 1.0, "reason": "viewed"} for j in range(5)],
                best_hours=ranking,
                predicted_open_rate=0.2,
                computed_at=NOW,
            )
            for pk in pks
        ],
        batch_size=2000,
    )


def gateway_ceiling(n: int, processes: int, gateway_pid: int) -> dict:
    """n messages through the FCM backend straight to the gateway, split over `processes` client
    processes sending at once (no database, no Celery): what the real client code and the gateway
    reach together on this machine, with as many senders as the dispatch has workers."""
    import multiprocessing

    share = -(-n // processes)
    parts = [(first, min(n, first + share)) for first in range(0, n, share)]
    # fork: the children inherit the configured Django; none has built an FCM client yet.
    with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
        pool.map(_warm_up, range(len(parts)), chunksize=1)
        gateway_cpu = cpu_seconds(gateway_pid)
        started = time.perf_counter()
        answers = pool.starmap(_send_direct, parts, chunksize=1)
        seconds = time.perf_counter() - started
        gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
    ok = sum(a for a, _ in answers)
    return {
        "messages": n,
        "client_processes": len(parts),
        "ok": ok,
        "seconds": round(seconds, 2),
        "pushes_per_s": round(ok / seconds),
        # CPU per push, all threads: where a 2-core machine's ceiling comes from.
        "client_cpu_ms_per_push": round(1000 * sum(c for _, c in answers) / n, 3),
        "gateway_cpu_ms_per_push": round(1000 * gateway_cpu / n, 3),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ceiling_messages(first: int, last: int) -> list:
    from campaigns.push import PushMessage

    return [
        PushMessage(delivery_id=i, platform="fcm", token=f"ceiling-{i}", title="t", body="b",
                    data={"notification_id": str(i)}, collapse_key=f"n{i}", ttl_seconds=3600)
        for i in range(first, last)
    ]  # fmt: skip


def _warm_up(_) -> None:
    """Builds the client and opens its connections before the clock starts, as a running worker has."""
    from campaigns.push import get_backend

    time.sleep(0.5)  # one call per process (Pool hands the next task to an idle one)
    get_backend().send(_ceiling_messages(10**9, 10**9 + 100))


def _send_direct(first: int, last: int) -> tuple[int, float]:
    from campaigns.push import get_backend

    messages = _ceiling_messages(first, last)
    cpu = time.process_time()
    ok = sum(r.ok for r in get_backend().send(messages))
    return ok, time.process_time() - cpu


def exactly_once(record: str) -> dict:
    from campaigns.models import Delivery, Notification

    lines = [json.loads(line) for line in Path(record).read_text().splitlines() if line.strip()]
    accepted = [line["message"]["data"]["notification_id"] for line in lines if line["status"] == 200]
    due = Notification.objects.filter(status__in=["sent", "queued", "sending", "planned"]).count()
    sent = Notification.objects.filter(status="sent").count()
    unique = len(set(accepted))
    return {
        "notifications_due": due,
        "sent": sent,
        "gateway_accepted": len(accepted),
        "distinct_at_gateway": unique,
        "deliveries_sent": Delivery.objects.filter(status="sent").count(),
        "ok": sent == due == unique == len(accepted),
    }


if __name__ == "__main__":
    main()
