"""The marketer dashboard (an admin page): numbers from campaigns.dashboard, drawn as SVG charts."""

import datetime as dt

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from campaigns import dashboard
from campaigns.charts import bar_chart, line_chart
from campaigns.results import MIN_PEOPLE

DAY_CHOICES = (7, 14, 28, 56, 90)


@permission_required("campaigns.view_notification", raise_exception=True)
def dashboard_view(request):
    try:
        days = int(request.GET.get("days", 28))
    except ValueError:
        days = 28
    days = days if days in DAY_CHOICES else 28
    start, end = dashboard.period(days)
    daily = dashboard.per_day(start, end)
    labels = [row["date"].strftime("%m-%d") for row in daily]
    period_results = dashboard.totals(start, end)
    totals = {
        "sends": period_results.sends,
        "deliveries": period_results.deliveries,
        "opens": period_results.opens,
        "dismissals": period_results.dismissals,
        "ctr": None if period_results.ctr is None else 100 * period_results.ctr,
        "opt_outs": period_results.opt_outs,
        "purchases": dashboard.purchases(start, end),
    }
    failures = dashboard.failures(start, end)
    day_charts = [
        line_chart(
            "Sends and deliveries",
            {"sends": [r["sends"] for r in daily], "deliveries": [r["deliveries"] for r in daily]},
            labels,
        ),
        line_chart(
            "Opens and dismissals",
            {"opens": [r["opens"] for r in daily], "dismissals": [r["dismissals"] for r in daily]},
            labels,
        ),
        line_chart("Click-through rate", {"CTR": [r["ctr"] for r in daily]}, labels, percent=True),
    ]
    breakdowns = []
    for title, by in (("Segment", "segment"), ("Notification type", "type"), ("Campaign", "campaign")):
        rows = dashboard.breakdown(start, end, by)
        chart = bar_chart(f"CTR by {title.lower()}", {r["group"]: r["ctr"] or 0.0 for r in rows[:12]}, percent=True)
        breakdowns.append((title, rows, mark_safe(chart)))  # noqa: S308 (our own SVG, labels escaped)
    uplift = dashboard.uplift(start, end)
    interval = uplift.interval
    context = {
        **request.site_context,
        "title": "Dashboard",
        "days": days,
        "day_choices": DAY_CHOICES,
        "end": end,
        "totals": totals,
        "day_charts": [mark_safe(c) for c in day_charts],  # noqa: S308 (our own SVG, labels escaped)
        "breakdowns": breakdowns,
        "failures": failures,
        "failed": sum(row["count"] for row in failures),
        "uplift": uplift,
        "treated_rate": 100 * uplift.treated_rate,
        "control_rate": 100 * uplift.control_rate,
        "treated_interval": [100 * v for v in uplift.treated_interval or (0, 0)],
        "control_interval": [100 * v for v in uplift.control_interval or (0, 0)],
        "difference": 100 * uplift.difference,
        "interval": [100 * v for v in interval] if interval else None,
        "min_people": MIN_PEOPLE,
        "window_hours": int(dashboard.CONVERSION_WINDOW.total_seconds() // 3600),
    }
    return render(request, "admin/campaigns/dashboard.html", context)


@permission_required("campaigns.view_notification", raise_exception=True)
def policy_evaluation_view(request):
    """Off-policy estimates of the offered candidate policies over the last `days` (campaigns.ope)."""
    from campaigns import ope

    try:
        days = int(request.GET.get("days", 28))
    except ValueError:
        days = 28
    days = days if days in DAY_CHOICES else 28
    until = timezone.now()
    since = until - dt.timedelta(days=days)
    evaluations = ope.policies_evaluate(since=since, until=until)
    rows = []
    for evaluation in evaluations:
        methods = []
        for method in ope.METHODS:
            cells = [evaluation.figure(method, outcome) for outcome in ope.OUTCOMES]
            label = "SNIPS, per send" if method == "snips" else f"{method.upper()}, total"
            methods.append((label, method == "snips", cells))
        rows.append((evaluation, methods))
    context = {
        **request.site_context,
        "title": "What other policies would have done",
        "days": days,
        "day_choices": DAY_CHOICES,
        "since": since,
        "until": until,
        "rows": rows,
        "outcomes": ("Opens", "Dismissals", "Opt-outs", "Sends"),
    }
    return render(request, "admin/campaigns/policy_evaluation.html", context)
