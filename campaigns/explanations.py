"""A readable account of what Optimus currently decides for one customer, and why: their segment,
the items it would show, the hours it would send at, and the model run behind them.

``customer_explanation`` returns plain JSON-serialisable data (the API and the dashboard use it);
``explanation_as_text`` and the admin template ``admin/campaigns/explanation.html`` render it.
Everything comes from the customer's stored profile and its model version, and from their latest
notification (which is why this lives in campaigns): no model is loaded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaigns import rules
from campaigns.models import Notification
from devices.models import Customer
from recommender.ml.clock import HOURS_PER_WEEK
from recommender.models import CustomerProfile, Item, ModelVersion
from recommender.reasons import reason_label
from recommender.selectors import segment_for_scores, segments_by_priority

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
BEST_HOURS_SHOWN = 3
ITEMS_SHOWN = 5

# ModelVersion.params["timing"]["policy"] (recommender.ml.timing.POLICIES) in words.
TIMING_POLICIES = {
    "hour": "everyone's most active hour of the day, the same for every customer "
    "(personal histories did not predict better at the last run)",
    "dow_hour": "everyone's most active hour on each day of the week "
    "(personal histories did not predict better at the last run)",
    "profile": "this customer's own active hours (weekdays and weekends apart when their history shows it), "
    "trusted more the more days of history they have, otherwise everyone's habits",
    "ensemble": "this customer's own activity, blended with everyone's habits",
}


def hour_label(hour_of_week: int, zone: str) -> str:
    """43, "Europe/Berlin" → "Tuesday 19:00 (Europe/Berlin)" (0 is Monday 00:00, local time)."""
    return f"{DAY_NAMES[hour_of_week // 24]} {hour_of_week % 24:02d}:00 ({zone})"


def _when(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _days(value: float) -> str:
    return "today" if value < 1 else f"{value:.0f} day{'' if round(value) == 1 else 's'} ago"


def customer_explanation(customer: Customer, *, items: int = ITEMS_SHOWN) -> dict[str, Any]:
    """What Optimus currently decides for ``customer`` and why, as JSON-serialisable data.

    Keys: ``customer``, ``timezone``, ``has_profile``, ``summary``, ``notes`` (always); with a profile
    also ``segment``, ``top_items``, ``best_hours``, ``predicted_open_rate``, ``decision`` (the latest
    notification: what, when, P(open), expected value) and ``model``, each a
    dict with a ``why`` sentence.
    """
    out: dict[str, Any] = {
        "customer": customer.external_id,
        "timezone": customer.timezone,
        "has_profile": False,
        "notes": _receiving_notes(customer),
    }
    profile = (
        CustomerProfile.objects.select_related("segment", "previous_segment", "model_version")
        .filter(customer=customer)
        .first()
    )
    if profile is None:
        out["summary"] = (
            f"No profile yet: {customer.external_id} has not been through a model run. "
            "The next training run computes their segment, items and best hours."
        )
        return out
    version = profile.model_version
    out |= {
        "has_profile": True,
        "segment": _segment(profile),
        "top_items": _top_items(profile, version, items),
        "best_hours": _best_hours(customer, profile, version),
        "predicted_open_rate": _open_rate(profile),
        "decision": _decision(customer),
        "model": _model(profile, version),
    }
    out["summary"] = _summary(out)
    return out


def _receiving_notes(customer: Customer) -> list[str]:
    notes = []
    if customer.opt_out:
        notes.append("Opted out of notifications: nothing is planned or sent, whatever the model says.")
    if customer.muted_types:
        notes.append(f"Muted notification types (never sent to them): {', '.join(customer.muted_types)}.")
    return notes


def _segment(profile: CustomerProfile) -> dict[str, Any]:
    segment, previous = profile.segment, profile.previous_segment
    scored = profile.recency_score is not None
    out: dict[str, Any] = {
        "name": segment.name if segment else None,
        "slug": segment.slug if segment else None,
        "description": segment.description if segment else "",
        "rule": segment.rule if segment else None,
        "rfm": profile.rfm if scored else None,
        "scores": {
            "recency": profile.recency_score,
            "frequency": profile.frequency_score,
            "monetary": profile.monetary_score,
        },
        "values": {
            "recency_days": profile.recency_days,
            "frequency": profile.frequency,
            "monetary": float(profile.monetary),
        },
        "previous": {"name": previous.name, "slug": previous.slug} if previous else None,
    }
    if previous is None:
        out["movement"] = "new"
        out["previous_text"] = "No segment at the run before (a new customer, or no events then)."
    elif segment is not None and previous.pk == segment.pk:
        out["movement"] = "stayed"
        out["previous_text"] = f"Also {previous.name} at the run before."
    else:
        out["movement"] = "moved"
        out["previous_text"] = f"Moved from {previous.name} at the run before."

    if not scored:
        out["why"] = (
            "No segment: there are no events for this customer yet, so there is nothing to score "
            "and nothing is planned for them."
        )
        return out
    r, f, m = profile.recency_score, profile.frequency_score, profile.monetary_score
    # For a customer who never bought, recency and frequency count visits (recommender.ml.rfm).
    values = (
        f"last purchase or visit {_days(profile.recency_days or 0)}, "
        f"{profile.frequency} {'purchase or visit' if profile.frequency == 1 else 'purchases or visits'}, "
        f"{profile.monetary} spent"
    )
    out["values_text"] = values
    scores = f"R{r} F{f} M{m}"
    if segment is None:
        out["why"] = f"Scores {scores} ({values}); no segment was assigned at the last run."
        return out
    # The rules may have been edited since the run: say where the next run will put them.
    now, matched = segment_for_scores(segments_by_priority(), r, f, m)
    if now is not None and now.pk == segment.pk and matched:
        out["why"] = (
            f"Scores {scores} ({values}) fit the rule of {segment.name} ({segment.rule}), "
            "the first segment by priority whose rule matches."
        )
        return out
    out["why"] = f"Scores {scores} ({values}) put them in {segment.name} at the last run."
    if now is not None:
        out["next_run"] = {"name": now.name, "slug": now.slug}
        if not matched:
            out["why"] += f" No segment's rule matches them now, so the next run puts them in the last one, {now.name}."
        else:
            out["why"] += f" The rules were changed since: the next run will place them in {now.name} ({now.rule})."
    return out


def _top_items(profile: CustomerProfile, version: ModelVersion | None, limit: int) -> dict[str, Any]:
    stored = [entry for entry in profile.top_items if isinstance(entry, dict) and "item_id" in entry]
    shown = stored[:limit]
    ids = [str(entry["item_id"]) for entry in shown]
    catalog = {
        external_id: (title, available and recommendable)
        for external_id, title, available, recommendable in Item.objects.filter(external_id__in=ids).values_list(
            "external_id", "title", "available", "recommendable"
        )
    }
    rows = []
    for entry, item_id in zip(shown, ids, strict=True):
        title, available = catalog.get(item_id, ("", False))
        reason = str(entry.get("reason") or "")
        rows.append(
            {
                "item_id": item_id,
                "title": title or f"Item {item_id}",
                "score": entry.get("score"),
                "reason": reason,
                "reason_label": reason_label(reason) if reason else "",
                "available": available,
            }
        )
    if not stored:
        why = "No items: the last run found nothing to recommend to this customer."
    else:
        run = f"model run {version.pk}" if version else "the last model run"
        why = (
            f"Ranked by {run}, best first ({len(rows)} of {len(stored)} shown); "
            "each item shows the first reason that holds for it."
        )
    return {"items": rows, "stored": len(stored), "why": why}


def _best_hours(customer: Customer, profile: CustomerProfile, version: ModelVersion | None) -> dict[str, Any]:
    zone = customer.timezone
    chosen, skipped = [], []
    for hour in profile.best_hours:
        if len(chosen) == BEST_HOURS_SHOWN:
            break
        if not isinstance(hour, int) or not 0 <= hour < HOURS_PER_WEEK:
            continue
        entry = {"hour_of_week": hour, "label": hour_label(hour, zone)}
        (skipped if rules.is_quiet_at_hour_of_week(customer, hour) else chosen).append(entry)
    quiet = None
    if customer.quiet_hours_start is not None and customer.quiet_hours_end is not None:
        quiet = {"start": f"{customer.quiet_hours_start:%H:%M}", "end": f"{customer.quiet_hours_end:%H:%M}"}
    timing = version.params.get("timing", {}) if version else {}
    policy = timing.get("policy") if isinstance(timing, dict) else None
    hit_rate = None
    if version and policy:
        validation = version.metrics.get("timing", {}).get(policy, {})
        hit_rate = validation.get("hit_rate") if isinstance(validation, dict) else None

    if not chosen:
        why = "No send hours yet: the last run did not rank any hour for this customer."
    else:
        run = f"model run {version.pk}" if version else "the last model run"
        method = TIMING_POLICIES.get(policy, f"the {policy} policy") if policy else "its send-time model"
        why = f"Local hours of the week ranked by {run} from {method}."
        if hit_rate is not None:
            why += (
                f" Checked on the weeks before that run, people were active at the hour it picked (or the next) "
                f"on {hit_rate:.0%} of their active days."
            )
    if skipped:
        why += (
            f" Skipped because they fall in quiet hours ({quiet['start']}–{quiet['end']} local): "
            f"{', '.join(entry['label'] for entry in skipped)}."
        )
    return {
        "hours": chosen,
        "skipped_quiet": skipped,
        "quiet_hours": quiet,
        "policy": policy,
        "policy_text": TIMING_POLICIES.get(policy) if policy else None,
        "hit_rate": hit_rate,
        "why": why,
    }


def _open_rate(profile: CustomerProfile) -> dict[str, Any]:
    rate = profile.predicted_open_rate
    return {
        "value": rate,
        "why": "Not predicted yet." if rate is None else f"{rate:.0%} chance of opening a notification.",
    }


def _decision(customer: Customer) -> dict[str, Any]:
    """The planner's latest decision for the customer: what, when, P(open) and expected value."""
    latest = (
        Notification.objects.filter(customer=customer)
        .select_related("notification_type")
        .order_by("-scheduled_for", "-pk")
        .first()
    )
    if latest is None:
        return {"why": "Nothing planned yet: the hourly planner decides whether, what and when.", "latest": None}
    facts = latest.explanation or {}
    value, p_open = latest.expected_value, latest.predicted_open
    when = f"{latest.scheduled_for.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    why = f"{latest.notification_type.name} for {when} ({latest.get_status_display().lower()}"
    # The rulebook's reason code (campaigns.rules) in words, then the detail recorded with it.
    detail = latest.status_reason or (latest.get_reason_display() if latest.reason else "")
    why += f": {detail})" if detail else ")"
    if p_open is not None and value is not None:
        why += f"; P(open) {p_open:.1%}, expected value {value:.4f}"
        if facts.get("pushes_last_7_days") is not None:
            why += f" after {facts['pushes_last_7_days']} push(es) in the last 7 days"
    if facts.get("hour_choice"):
        why += f"; hour: {facts['hour_choice']}"
    return {
        "why": why + ".",
        "how_many": _how_many(customer, latest, facts),
        "type_choice": _type_choice(latest, facts),
        "utility": _utility(facts),
        "latest": {
            "notification_id": latest.pk,
            "type": latest.notification_type.slug,
            "scheduled_for": _when(latest.scheduled_for),
            "status": latest.status,
            "reason": latest.reason,
            "predicted_open": p_open,
            "expected_value": value,
            "is_exploration": latest.is_exploration,
            "propensity": latest.propensity,
            "propensities": latest.propensities or {},
        },
    }


def _how_many(customer: Customer, latest: Notification, facts: dict) -> str:
    """Why this person gets this many pushes this week: their pushes of the 7 days before the latest
    decision, and the frequency the planner learned for them."""
    week_ago = latest.scheduled_for - rules.WEEK
    count = (
        Notification.objects.filter(rules.COUNTED, customer=customer, scheduled_for__gte=week_ago)
        .filter(scheduled_for__lte=latest.scheduled_for)
        .count()
    )
    text = f"{count} notification(s) in the 7 days up to this one"
    frequency = facts.get("frequency")
    if not frequency:
        return text + "."
    text += (
        f"; it is push {frequency['level']} of their week, and this week is worth {frequency['sampled_level']} "
        f"for them (learned for their segment and their own P(open): {frequency['learned_level']}; "
        f"the segment started from {frequency['starting_level']}"
    )
    if facts.get("weekly_cap") is not None:
        text += f", never above its ceiling of {facts['weekly_cap']}"
    if frequency["sampled_level"] != frequency["learned_level"]:
        text += "; the difference is exploration, with its probability logged"
    return text + ")."


def _type_choice(latest: Notification, facts: dict) -> str:
    why = facts.get("type_choice")
    name = latest.notification_type.name
    return f"{name}: {why}." if why else f"{name}."


def _utility(facts: dict) -> dict[str, Any] | None:
    """The utility's terms for the latest decision, in opens, with a sentence."""
    terms = facts.get("utility")
    if not terms:
        return None
    why = (
        f"Worth {terms['utility']:+.4f} opens: an open worth {terms['open_value']:.4f}, "
        f"minus a dismissal's cost {terms['dismiss_cost']:.4f} "
        f"(P(dismiss | not opened) {terms['p_dismiss_if_unopened']:.0%}), "
        f"minus the opt-out risk {terms['opt_out_cost']:.4f} (hazard {terms['opt_out_hazard']:.2%} a push), "
        f"minus fatigue on the next pushes {terms['fatigue_cost']:.4f}."
    )
    return {**terms, "why": why}


def _model(profile: CustomerProfile, version: ModelVersion | None) -> dict[str, Any]:
    computed = f"{profile.computed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    if version is None:
        why = f"Computed {computed}; that model run has since been deleted."
    else:
        why = f"Model run {version.pk} ({version.get_status_display().lower()}), data up to "
        why += f"{version.data_until.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC; computed {computed}."
    return {
        "version": version.pk if version else None,
        "status": version.status if version else None,
        "data_until": _when(version.data_until) if version else None,
        "computed_at": _when(profile.computed_at),
        "why": why,
    }


def _summary(explanation: dict[str, Any]) -> str:
    customer = explanation["customer"]
    segment = explanation["segment"]
    if not segment["name"]:
        return f"{customer} has no segment yet, so nothing is planned for them."
    parts = [f"{customer} is in {segment['name']}"]
    # The planner never shows an unavailable item.
    items = [item for item in explanation["top_items"]["items"] if item["available"]]
    if items:
        parts.append(f"the first item it would show is {items[0]['title']}")
    hours = explanation["best_hours"]["hours"]
    if hours:
        parts.append(f"the best time to send is {hours[0]['label']}")
    return "; ".join(parts) + "."


def explanation_as_text(explanation: dict[str, Any]) -> str:
    """The explanation as plain text, one fact a line (for logs, e-mails and the command line)."""
    lines = [explanation["summary"], *explanation["notes"]]
    if not explanation["has_profile"]:
        return "\n".join(lines)
    segment = explanation["segment"]
    lines += ["", f"Segment: {segment['name'] or 'none'}", f"  {segment['why']}", f"  {segment['previous_text']}"]
    top = explanation["top_items"]
    lines += ["", "Top items:", f"  {top['why']}"]
    for i, item in enumerate(top["items"], 1):
        score = f", score {item['score']}" if item["score"] is not None else ""
        lines.append(f"  {i}. {item['title']} ({item['item_id']}{score}): {item['reason_label'] or 'no reason stored'}")
    hours = explanation["best_hours"]
    lines += ["", "Best hours:", *(f"  {i}. {h['label']}" for i, h in enumerate(hours["hours"], 1))]
    lines.append(f"  {hours['why']}")
    lines += [
        "",
        f"Predicted open rate: {explanation['predicted_open_rate']['why']}",
        f"Latest decision: {explanation['decision']['why']}",
    ]
    decision = explanation["decision"]
    if decision.get("latest"):
        lines += [f"  How many this week: {decision['how_many']}", f"  Why this type: {decision['type_choice']}"]
        if decision.get("utility"):
            lines.append(f"  Utility: {decision['utility']['why']}")
    lines += [
        f"Model: {explanation['model']['why']}",
    ]
    return "\n".join(lines)
