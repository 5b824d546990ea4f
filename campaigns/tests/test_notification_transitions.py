"""Notification owns its life: every status change is a named transition of TRANSITIONS, made by one
conditional UPDATE, and nothing else in production code writes a notification's status."""

import ast
import datetime as dt
import inspect
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import TRANSITIONS, Notification, NotificationQuerySet, Owner, Reason
from tests.factories import CustomerFactory, NotificationFactory

Status = Notification.Status
ROOT = Path(__file__).resolve().parents[2]
# Arguments for the transitions that need some.
ARGUMENTS = {
    "claim": {"now": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
    "reclaim": {"now": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
    "start_sending": {"now": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
    "mark_sent": {"now": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
    "suppress": {"reason": Reason.WEEKLY_CAP, "detail": "capped"},
    "fail": {"reason": Reason.NO_ACTIVE_DEVICE, "detail": "no active device"},
    "cancel": {"reason": Reason.CANCELLED_BY_PERSON, "detail": "Cancelled by mia"},
}


def transition_methods() -> list[str]:
    """Every public method NotificationQuerySet adds to Django's QuerySet."""
    return [
        name
        for name, member in vars(NotificationQuerySet).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]


def test_every_queryset_method_is_a_transition_of_the_table():
    assert sorted(transition_methods()) == sorted(NotificationQuerySet.MOVES)
    for name, (allowed_from, to) in NotificationQuerySet.MOVES.items():
        for status in allowed_from:
            assert to in TRANSITIONS[status], f"{name}: {status} → {to} is not in TRANSITIONS"


def test_every_move_of_the_table_has_a_named_transition():
    named = {(f, to) for allowed_from, to in NotificationQuerySet.MOVES.values() for f in allowed_from}
    table = {(f, to) for f, targets in TRANSITIONS.items() for to in targets}
    assert table == named
    assert set(TRANSITIONS) == set(Status.values)


@pytest.mark.parametrize("name", sorted(NotificationQuerySet.MOVES))
def test_a_transition_moves_exactly_the_rows_in_its_allowed_statuses(db, name):
    allowed_from, to = NotificationQuerySet.MOVES[name]
    customer = CustomerFactory()
    rows = {}
    for status in Status.values:
        n = NotificationFactory(customer=customer, idempotency_key=f"{customer.pk}:{name}:{status}")
        Notification.objects.filter(pk=n.pk).update(status=status)  # the test's own setup
        rows[status] = n.pk
    before = timezone.now() - dt.timedelta(seconds=1)
    moved = getattr(Notification.objects.filter(pk__in=rows.values()), name)(**ARGUMENTS.get(name, {}))
    assert moved == len(allowed_from)
    for status, pk in rows.items():
        n = Notification.objects.get(pk=pk)
        if status in allowed_from:
            assert n.status == to and n.updated_at >= before, (name, status)
        else:
            assert n.status == status, f"{name} moved a {status} notification"


def test_reasons_and_details_are_stored_apart(db):
    n = NotificationFactory(status=Status.SENDING)
    Notification.objects.filter(pk=n.pk).suppress(reason=Reason.QUIET_HOURS, detail="inside quiet hours")
    n.refresh_from_db()
    assert (n.status, n.reason, n.status_reason) == (Status.SUPPRESSED, "quiet_hours", "inside quiet hours")
    Notification.objects.filter(pk=n.pk).mark_sent(now=timezone.now())  # an accepted delivery heals it
    n.refresh_from_db()
    assert (n.status, n.reason, n.status_reason) == (Status.SENT, "", "")


def insert_row(customer, notification_type, *, status=Status.PLANNED, reason="", campaign=None, owner=Owner.AUTOMATION):
    now = timezone.now()
    fields = ["customer", "owner", "campaign", "notification_type", "local_date", "status", "reason"]
    fields += ["status_reason", "scheduled_for", "title", "body", "link", "item_ids", "explanation"]
    fields += ["created_at", "updated_at"]
    row = (customer.pk, owner, campaign, notification_type.pk, dt.date(2026, 3, 1), status, reason)
    row += ("", now, "t", "b", "", [], {}, now, now)
    return fields, [row]


def test_insert_new_builds_the_key_from_the_columns_and_is_idempotent(db):
    n = NotificationFactory()
    customer, notification_type = n.customer, n.notification_type
    assert Notification.objects.insert_new(*insert_row(customer, notification_type)) == 1
    assert Notification.objects.insert_new(*insert_row(customer, notification_type)) == 0  # a rerun
    created = Notification.objects.get(idempotency_key=f"{customer.pk}:auto:2026-03-01")
    assert (created.owner, created.local_date, created.status) == ("auto", dt.date(2026, 3, 1), Status.PLANNED)
    control = insert_row(
        customer, notification_type, status=Status.SUPPRESSED, reason=Reason.CONTROL_GROUP, owner=Owner.SIMULATED_BLAST
    )
    assert Notification.objects.insert_new(*control) == 1
    assert Notification.objects.get(idempotency_key=f"{customer.pk}:blast:2026-03-01").reason == "control_group"


@pytest.mark.parametrize(
    "status, reason",
    [(Status.SENT, ""), (Status.QUEUED, ""), (Status.SUPPRESSED, Reason.WEEKLY_CAP), (Status.PLANNED, "opted_out")],
)
def test_insert_new_creates_only_planned_or_control_group_rows(db, status, reason):
    n = NotificationFactory()
    with pytest.raises(ValueError, match="cannot be created"):
        Notification.objects.insert_new(*insert_row(n.customer, n.notification_type, status=status, reason=reason))


def production_modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        skipped = relative.parts[0] in {"tests", "bench", "scripts", ".venv", "sdk"}
        if skipped or {"migrations", "tests"} & set(relative.parts):
            continue
        yield relative, ast.parse(path.read_text(), filename=str(path))


def test_no_production_code_writes_a_notification_status_outside_its_transitions():
    stray = []
    for relative, tree in production_modules():
        if relative == Path("campaigns/models.py"):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            keywords = {k.arg for k in node.keywords}
            source = ast.unparse(node)
            if name == "update" and "status" in keywords and "Notification" in source:
                stray.append(f"{relative}:{node.lineno}: {source[:80]}")
            if name in {"update", "bulk_create", "create", "insert_ignoring_duplicates"} and (
                "Notification," in source or "Notification(" in source or "Notification.objects.create" in source
            ):
                stray.append(f"{relative}:{node.lineno}: {source[:80]}")
    assert stray == [], "status written outside NotificationQuerySet / insert_new:\n" + "\n".join(stray)


def test_meaning_is_not_parsed_back_out_of_keys_or_reasons():
    parsed = []
    for relative, tree in production_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = ast.unparse(node.func.value)
                if node.func.attr in {"split", "rsplit"} and ("key" in receiver or "reason" in receiver):
                    parsed.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert parsed == []


def test_the_migration_reads_owner_date_and_reason_out_of_the_old_strings_once():
    import importlib

    migration = importlib.import_module("campaigns.migrations.0007_notification_reason_owner_local_date")
    assert migration.owner_and_date("12:auto:2026-03-01", None) == ("auto", dt.date(2026, 3, 1))
    assert migration.owner_and_date("12:c7:2026-03-01", 7) == ("campaign", dt.date(2026, 3, 1))
    assert migration.owner_and_date("12:blast:2026-03-01", None) == ("blast", dt.date(2026, 3, 1))
    assert migration.owner_and_date("k3", None) == ("auto", None)
    assert migration.reason_of("suppressed", "weekly_cap: the segment's weekly cap was reached") == "weekly_cap"
    assert migration.reason_of("suppressed", "Control group: held back to measure uplift") == "control_group"
    assert migration.reason_of("cancelled", "Campaign cancelled") == "campaign_cancelled"
    assert migration.reason_of("cancelled", "Cancelled by mia") == "cancelled_by_person"
    assert migration.reason_of("failed", "every device failed: dead_token") == "delivery_failed"
