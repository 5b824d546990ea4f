"""What a marketer sees without training: the RFM grid, segment sizes, movement between segments,
and the explanation of what Optimus decides for one customer (recommender.selectors,
campaigns.explanations and their admin pages)."""

import datetime as dt
import json

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.explanations import customer_explanation, explanation_as_text, hour_label
from campaigns.rules import is_quiet_at_hour_of_week
from devices.models import Customer
from recommender import reasons, selectors
from recommender.models import CustomerProfile, ModelVersion, Segment
from tests.factories import CustomerFactory, CustomerProfileFactory, ItemFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db

RFM_URL = "admin:recommender_segment_rfm"
TUESDAY_19 = 24 + 19
TUESDAY_23 = 24 + 23
MONDAY_06 = 6
MONDAY_20 = 20
TUESDAY_20 = 24 + 20


def seg(slug: str | None) -> Segment | None:
    return Segment.objects.get(slug=slug) if slug else None


def profile(
    scores: tuple[int, int, int] | None,
    segment: str | None = None,
    previous: str | None = None,
    customer: Customer | None = None,
    **fields,
) -> CustomerProfile:
    r, f, m = scores or (None, None, None)
    return CustomerProfileFactory(
        customer=customer or CustomerFactory(),
        recency_score=r,
        frequency_score=f,
        monetary_score=m,
        segment=seg(segment),
        previous_segment=seg(previous),
        computed_at=timezone.now(),
        **fields,
    )


def cell(grid: selectors.RfmGrid, r: int, f: int) -> selectors.GridCell:
    found = grid.rows[5 - r][f - 1]
    assert (found.recency, found.frequency) == (r, f)
    return found


def names(pairs) -> list:
    return [(s.slug if s else None, n) for s, n in pairs]


def run(**fields) -> ModelVersion:
    now = timezone.now()
    defaults = {"status": ModelVersion.Status.SUCCEEDED, "started_at": now, "finished_at": now, "data_until": now}
    return ModelVersionFactory(**(defaults | fields))


# --- The grid and segment sizes -------------------------------------------------------------


@pytest.fixture
def population():
    """Ties on purpose: two customers with the very same scores, and one cell split evenly between
    two segments at the last run. Plus one customer without events (no scores, no segment)."""
    profile((5, 5, 5), "champions", "loyal")
    profile((5, 5, 5), "champions", "champions")
    profile((5, 5, 2), "loyal", None)
    profile((4, 4, 4), "champions", "champions")
    profile((4, 4, 1), "loyal", "champions")
    profile((1, 1, 1), "lost", "hibernating")
    profile(None, None, "at-risk")


def test_grid_counts_customers_per_cell_with_monetary_folded(population):
    grid = selectors.rfm_grid()
    assert grid.monetary is None
    assert grid.customers == 6  # the customer without scores is not in the grid
    assert [row[0].recency for row in grid.rows] == [5, 4, 3, 2, 1]
    top = cell(grid, 5, 5)
    assert top.customers == 3
    assert names(top.by_segment) == [("champions", 2), ("loyal", 1)]
    # The rules split the cell: Loyal takes M 1–3, Champions (checked first) M 4–5.
    assert [(s.slug, ms) for s, ms in top.rule_segments] == [("loyal", [1, 2, 3]), ("champions", [4, 5])]
    assert top.segment.slug == "loyal"
    assert cell(grid, 1, 1).customers == 1
    assert names(cell(grid, 1, 1).by_segment) == [("lost", 1)]


def test_grid_tie_between_segments_in_a_cell_goes_to_the_higher_priority(population):
    split = cell(selectors.rfm_grid(), 4, 4)
    assert split.customers == 2
    assert names(split.by_segment) == [("champions", 1), ("loyal", 1)]


def test_grid_empty_cells_count_zero_and_still_name_their_segment(population):
    grid = selectors.rfm_grid()
    empty = cell(grid, 3, 1)
    assert empty.customers == 0
    assert empty.by_segment == []
    assert [s.slug for s, _ in empty.rule_segments] == ["about-to-sleep"]
    assert sum(c.customers for row in grid.rows for c in row) == grid.customers
    assert all(c.uncovered == [] for row in grid.rows for c in row)  # the seeded rules cover every cell


def test_grid_at_one_monetary_score(population):
    grid = selectors.rfm_grid(monetary=5)
    assert grid.customers == 2
    top = cell(grid, 5, 5)
    assert top.customers == 2
    assert [(s.slug, ms) for s, ms in top.rule_segments] == [("champions", [5])]
    assert cell(selectors.rfm_grid(monetary=2), 5, 5).segment.slug == "loyal"
    assert cell(selectors.rfm_grid(monetary=3), 5, 5).customers == 0


def test_segment_sizes_and_shares(population):
    sizes = {(s.segment.slug if s.segment else None): s for s in selectors.segment_sizes()}
    assert sizes["champions"].customers == 3
    assert sizes["loyal"].customers == 2
    assert sizes["lost"].customers == 1
    assert sizes["new"].customers == 0  # empty segments are listed too
    assert sizes[None].customers == 1
    assert sizes["champions"].share == pytest.approx(3 / 7)
    assert sum(s.share for s in sizes.values()) == pytest.approx(1)
    assert list(sizes)[:2] == ["champions", "cant-lose"]  # by priority


def test_a_gap_in_the_rules_is_found_and_falls_to_the_last_segment():
    assert selectors.uncovered_cells() == []
    Segment.objects.filter(slug="lost").update(frequency_max=1)
    segments = selectors.segments_by_priority()
    assert selectors.uncovered_cells() == [(1, 2, m) for m in range(1, 6)]
    owner, matched = selectors.segment_for_scores(segments, 1, 2, 3)
    assert (owner.slug, matched) == ("lost", False)
    assert cell(selectors.rfm_grid(), 1, 2).uncovered == [1, 2, 3, 4, 5]


def test_segment_cells_shows_rules_shadowed_by_earlier_segments():
    cells = selectors.segment_cells(seg("loyal"))
    assert cells.covered == 3 * 3 * 5
    assert cells.taken_by == {"Champions": 8}
    assert cells.won == 45 - 8


# --- Movement -------------------------------------------------------------------------------


def test_movement_table_from_previous_segment_to_segment(population):
    movement = selectors.segment_movement()
    assert movement.destinations[-1] is None  # someone has no segment now
    assert movement.rows[-1].origin is None  # "new"
    ids = [d.slug if d else None for d in movement.destinations]

    def count(origin: str | None, destination: str | None) -> int:
        row = next(r for r in movement.rows if (r.origin.slug if r.origin else None) == origin)
        return row.counts[ids.index(destination)]

    assert count("champions", "champions") == 2
    assert count("loyal", "champions") == 1
    assert count(None, "loyal") == 1
    assert count("champions", "loyal") == 1
    assert count("hibernating", "lost") == 1
    assert count("at-risk", None) == 1
    assert count("lost", "lost") == 0
    assert (movement.stayed, movement.moved, movement.new) == (2, 4, 1)
    assert movement.total == CustomerProfile.objects.count() == sum(movement.column_totals)


def test_movement_without_customers_has_no_no_segment_column():
    movement = selectors.segment_movement()
    assert None not in movement.destinations
    assert movement.total == 0
    assert movement.run is None


# --- Explanations ---------------------------------------------------------------------------


def test_training_labels_are_the_ones_explanations_use():
    from recommender import training

    assert training.REASONS is reasons.REASONS and training.TRENDING is reasons.TRENDING


def test_hour_labels_and_quiet_hours(customer):
    assert hour_label(TUESDAY_19, "Europe/Berlin") == "Tuesday 19:00 (Europe/Berlin)"
    assert hour_label(167, "UTC") == "Sunday 23:00 (UTC)"
    assert not is_quiet_at_hour_of_week(customer, 3)  # no quiet hours at all
    customer.quiet_hours_start, customer.quiet_hours_end = dt.time(22, 30), dt.time(7)
    # As the planner decides: a send at the start of the hour, so 22:00 is still allowed.
    assert not is_quiet_at_hour_of_week(customer, 22)
    assert is_quiet_at_hour_of_week(customer, 23)
    assert is_quiet_at_hour_of_week(customer, 6 * 24)  # Sunday 00:00, across midnight
    assert is_quiet_at_hour_of_week(customer, 24 + 6)
    assert not is_quiet_at_hour_of_week(customer, 7)  # the end is exclusive
    customer.quiet_hours_start, customer.quiet_hours_end = dt.time(13), dt.time(14)
    assert is_quiet_at_hour_of_week(customer, 4 * 24 + 13) and not is_quiet_at_hour_of_week(customer, 4 * 24 + 14)


@pytest.fixture
def explained(customer):
    """c-100 (Europe/Berlin) with quiet hours at night, a Champions profile and two items."""
    customer.quiet_hours_start, customer.quiet_hours_end = dt.time(22), dt.time(7)
    customer.save()
    boots = ItemFactory(external_id="sku-1", title="Winter boots")
    ItemFactory(external_id="sku-2", title="Wool socks", available=False)
    version = run(params={"timing": {"policy": "ensemble"}}, metrics={"timing": {"ensemble": {"hit_rate": 0.31}}})
    profile(
        (5, 4, 5),
        "champions",
        "loyal",
        customer=customer,
        model_version=version,
        recency_days=2.4,
        frequency=7,
        monetary="350.00",
        top_items=[
            {"item_id": "sku-1", "score": 0.93, "reason": "in_cart"},
            {"item_id": "sku-2", "score": 0.5, "reason": "similar"},
            {"item_id": "gone", "score": 0.1, "reason": "trending"},
        ],
        best_hours=[TUESDAY_23, TUESDAY_19, MONDAY_06, MONDAY_20, TUESDAY_20, 100, 101],
        predicted_open_rate=0.12,
    )
    return customer, version, boots


def test_explanation_of_a_customer_with_a_profile(explained):
    customer, version, _ = explained
    out = customer_explanation(customer)
    assert json.loads(json.dumps(out)) == out  # plain data, for the API and the dashboard
    assert out["has_profile"] is True
    segment = out["segment"]
    assert segment["name"] == "Champions"
    assert segment["rfm"] == "545"
    assert segment["scores"] == {"recency": 5, "frequency": 4, "monetary": 5}
    assert segment["values"] == {"recency_days": 2.4, "frequency": 7, "monetary": 350.0}
    assert "fit the rule of Champions (R 4–5, F 4–5, M 4–5)" in segment["why"]
    assert "2 days ago, 7 purchases or visits, 350.00 spent" in segment["why"]
    assert segment["movement"] == "moved"
    assert segment["previous"] == {"name": "Loyal", "slug": "loyal"}
    assert segment["previous_text"] == "Moved from Loyal at the run before."

    items = out["top_items"]["items"]
    assert [(i["title"], i["reason_label"]) for i in items] == [
        ("Winter boots", "Still in your cart"),
        ("Wool socks", "Similar to what you looked at"),
        ("Item gone", "Popular right now"),
    ]
    assert [i["available"] for i in items] == [True, False, False]
    assert items[0]["score"] == 0.93

    hours = out["best_hours"]
    assert [h["label"] for h in hours["hours"]] == [
        "Tuesday 19:00 (Europe/Berlin)",
        "Monday 20:00 (Europe/Berlin)",
        "Tuesday 20:00 (Europe/Berlin)",
    ]
    assert [h["hour_of_week"] for h in hours["skipped_quiet"]] == [TUESDAY_23, MONDAY_06]
    assert hours["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert hours["policy"] == "ensemble"
    assert "this customer's own activity" in hours["why"]
    assert "31%" in hours["why"]
    assert (
        "quiet hours (22:00–07:00 local): Tuesday 23:00 (Europe/Berlin), Monday 06:00 (Europe/Berlin)" in (hours["why"])
    )

    assert out["predicted_open_rate"] == {"value": 0.12, "why": "12% chance of opening a notification."}
    assert out["model"]["version"] == version.pk
    assert f"Model run {version.pk} (succeeded)" in out["model"]["why"]
    assert out["summary"] == (
        "c-100 is in Champions; the first item it would show is Winter boots; "
        "the best time to send is Tuesday 19:00 (Europe/Berlin)."
    )
    assert out["notes"] == []


def test_explanation_as_text(explained):
    customer, _, _ = explained
    customer.opt_out = True
    customer.save()
    text = explanation_as_text(customer_explanation(customer))
    assert text.startswith("c-100 is in Champions")
    assert "Opted out of notifications" in text
    assert "1. Winter boots (sku-1, score 0.93): Still in your cart" in text
    assert "Best hours:\n  1. Tuesday 19:00 (Europe/Berlin)" in text
    assert "Skipped because they fall in quiet hours" in text
    assert "Predicted open rate: 12% chance" in text


def test_explanation_of_a_customer_without_a_profile(customer):
    out = customer_explanation(customer)
    assert json.loads(json.dumps(out)) == out
    assert out["has_profile"] is False
    assert out["summary"].startswith("No profile yet: c-100 has not been through a model run.")
    assert "segment" not in out
    assert explanation_as_text(out) == out["summary"]


def test_explanation_of_a_customer_without_events(customer):
    ItemFactory(external_id="x", title="Umbrella")
    profile(None, None, None, customer=customer, top_items=[{"item_id": "x", "score": 1.0, "reason": "trending"}])
    out = customer_explanation(customer)
    assert out["segment"]["name"] is None
    assert out["segment"]["why"].startswith("No segment: there are no events for this customer yet")
    assert out["segment"]["movement"] == "new"
    assert out["best_hours"]["hours"] == []
    assert out["predicted_open_rate"]["why"] == "Not predicted yet."
    assert out["model"]["version"] is None
    assert out["summary"] == "c-100 has no segment yet, so nothing is planned for them."
    assert out["top_items"]["items"][0]["title"] == "Umbrella"


def test_explanation_summary_skips_unavailable_items(explained):
    customer, _, boots = explained
    boots.available = False
    boots.save()
    out = customer_explanation(customer)
    assert out["summary"] == "c-100 is in Champions; the best time to send is Tuesday 19:00 (Europe/Berlin)."


def test_explanation_says_when_the_rules_changed_since_the_run(explained):
    customer, _, _ = explained
    Segment.objects.filter(slug="champions").update(frequency_min=5)
    out = customer_explanation(customer)
    assert "put them in Champions at the last run" in out["segment"]["why"]
    assert "the next run will place them in Loyal" in out["segment"]["why"]
    assert out["segment"]["next_run"] == {"name": "Loyal", "slug": "loyal"}


# --- Admin pages ----------------------------------------------------------------------------


def test_marketer_sees_the_grid_sizes_and_movement(client, mia, population):
    version = run()
    client.force_login(mia)
    response = client.get(reverse(RFM_URL))
    assert response.status_code == 200
    page = response.text
    assert "RFM grid and movement between segments" in page
    assert str(version) in page
    assert "Loyal (M 1–3) / Champions (M 4–5)" in page  # the split R5 F5 cell
    assert "recency_score=5&amp;frequency_score=5" in page  # cells link to their customers
    assert "No segment (no events yet)" in page
    assert "42.9%" in page  # Champions: 3 of 7
    assert "4 customers changed segment, 2 stayed in theirs and 1 had no segment at the run before" in page
    assert "No segment before" in page  # the row of customers new to segments (not the "New" segment)
    assert "previous_segment__isnull=True" in page
    assert "No rule matches" not in page

    page = client.get(reverse(RFM_URL), {"m": "5"}).text
    assert "2 customers with scores at monetary score 5" in page
    assert "recency_score=5&amp;frequency_score=5&amp;monetary_score=5" in page
    assert client.get(reverse(RFM_URL), {"m": "9"}).status_code == 200  # anything else: folded


def test_superuser_sees_the_grid_and_gaps_in_the_rules(client, alice, population):
    Segment.objects.filter(slug="lost").update(frequency_max=1)
    client.force_login(alice)
    response = client.get(reverse(RFM_URL))
    assert response.status_code == 200
    assert "No rule matches 5 score cells (R1 F2 M1, R1 F2 M2" in response.text


def test_staff_without_permission_cannot_see_the_grid(client, charlie):
    client.force_login(charlie)
    assert client.get(reverse(RFM_URL)).status_code == 403


def test_grid_page_queries_do_not_grow_with_customers(client, alice, population):
    client.force_login(alice)
    client.get(reverse(RFM_URL))

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(RFM_URL)).status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for _ in range(5):
        profile((2, 1, 3), "hibernating", "lost")
    assert queries() == before


def test_segment_list_links_to_the_grid(client, mia):
    client.force_login(mia)
    page = client.get(reverse("admin:recommender_segment_changelist")).text
    assert reverse(RFM_URL) in page


def test_grid_and_movement_links_filter_the_profile_list(client, mia, population):
    client.force_login(mia)
    profiles = reverse("admin:recommender_customerprofile_changelist")
    response = client.get(profiles, {"recency_score": "5", "frequency_score": "5"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 3
    response = client.get(profiles, {"previous_segment__isnull": "True"})
    assert [p.segment.slug for p in response.context["cl"].result_list] == ["loyal"]
    response = client.get(profiles, {"segment__isnull": "True"})
    assert len(response.context["cl"].result_list) == 1


def test_segment_form_shows_the_rule_and_the_cells_it_wins(client, mia):
    client.force_login(mia)
    page = client.get(reverse("admin:recommender_segment_change", args=[seg("loyal").pk])).text
    assert "R 3–5, F 3–5, M 1–5" in page
    assert "The rule covers 45 of the 125 (R, F, M) score cells; this segment gets 37" in page
    assert "Champions (8)" in page
    assert client.get(reverse("admin:recommender_segment_add")).status_code == 200


def segment_form(segment: Segment, **changes) -> dict:
    data = {
        field: getattr(segment, field)
        for field in (
            "name", "slug", "description", "priority", "recency_min", "recency_max",
            "frequency_min", "frequency_max", "monetary_min", "monetary_max",
        )
    }  # fmt: skip
    policy = segment.policy
    data |= {
        "policy-TOTAL_FORMS": "1",
        "policy-INITIAL_FORMS": "1",
        "policy-MIN_NUM_FORMS": "0",
        "policy-MAX_NUM_FORMS": "1",
        "policy-0-id": policy.pk,
        "policy-0-segment": segment.pk,
        "policy-0-weekly_cap": policy.weekly_cap,
        "policy-0-weekly_ceiling": policy.weekly_ceiling,  # required since issue 18
        "policy-0-allowed_types": [t.pk for t in policy.allowed_types.all()],
        "policy-0-strategy": policy.strategy,
        "policy-0-is_active": "on",
    }
    return data | changes


def test_segment_form_refuses_bad_ranges(client, mia):
    lost = seg("lost")
    client.force_login(mia)
    change = reverse("admin:recommender_segment_change", args=[lost.pk])
    response = client.post(change, segment_form(lost, recency_min=2, recency_max=1))
    assert response.status_code == 200
    assert "The lowest recency score cannot be above the highest." in response.text
    response = client.post(change, segment_form(lost, monetary_max=6))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["monetary_max"]
    lost.refresh_from_db()
    assert (lost.recency_min, lost.recency_max, lost.monetary_max) == (1, 1, 5)


def test_saving_a_rule_that_leaves_a_gap_warns(client, mia):
    lost = seg("lost")
    client.force_login(mia)
    change = reverse("admin:recommender_segment_change", args=[lost.pk])
    response = client.post(change, segment_form(lost, frequency_max=1), follow=True)
    assert response.status_code == 200
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("No rule matches 5 score cell(s) (R1 F2 M1" in m for m in warnings)


@pytest.mark.parametrize("persona", ["alice", "mia"])
def test_customer_page_explains_the_decision(client, explained, persona, request):
    customer, _, _ = explained
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("admin:devices_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    page = response.text
    assert "What Optimus decides for them, and why" in page
    assert "Tuesday 19:00 (Europe/Berlin)" in page
    assert "Still in your cart" in page
    assert "Winter boots" in page
    assert "Moved from Loyal at the run before." in page


@pytest.mark.parametrize("persona", ["alice", "mia"])
def test_profile_page_explains_the_decision(client, explained, persona, request):
    customer, _, _ = explained
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("admin:recommender_customerprofile_change", args=[customer.profile.pk]))
    assert response.status_code == 200
    assert "the best time to send is Tuesday 19:00 (Europe/Berlin)" in response.text
    assert "Skipped because they fall in quiet hours" in response.text


def test_customer_page_without_a_profile_says_so(client, mia, customer):
    client.force_login(mia)
    page = client.get(reverse("admin:devices_customer_change", args=[customer.pk])).text
    assert "No profile yet: c-100 has not been through a model run." in page


def test_staff_without_permission_cannot_see_explanations(client, charlie, explained):
    customer, _, _ = explained
    client.force_login(charlie)
    assert client.get(reverse("admin:devices_customer_change", args=[customer.pk])).status_code == 403
    profile_page = reverse("admin:recommender_customerprofile_change", args=[customer.profile.pk])
    assert client.get(profile_page).status_code == 403


def test_explanation_gives_the_latest_decision_with_its_expected_value(explained):
    from tests.factories import NotificationFactory

    customer, _, _ = explained
    assert customer_explanation(customer)["decision"]["latest"] is None
    NotificationFactory(
        customer=customer,
        scheduled_for=dt.datetime(2026, 11, 24, 18, tzinfo=dt.UTC),
        predicted_open=0.14,
        expected_value=0.135,
        explanation={"pushes_last_7_days": 1, "hour_choice": "best allowed hour"},
    )
    decision = customer_explanation(customer)["decision"]
    assert decision["latest"]["expected_value"] == 0.135
    assert "2026-11-24 18:00 UTC" in decision["why"] and "expected value 0.1350" in decision["why"]
    assert "P(open) 14.0%" in decision["why"] and "best allowed hour" in decision["why"]
    assert "Latest decision:" in explanation_as_text(customer_explanation(customer))


def test_explanation_says_how_many_pushes_why_this_type_and_the_utility_terms(explained):
    from tests.factories import NotificationFactory

    customer, _, _ = explained
    NotificationFactory(
        customer=customer,
        scheduled_for=dt.datetime(2026, 11, 24, 18, tzinfo=dt.UTC),
        predicted_open=0.14,
        expected_value=0.08,
        explanation={
            "pushes_last_7_days": 2,
            "weekly_cap": 7,
            "frequency": {"level": 3, "sampled_level": 4, "learned_level": 3, "starting_level": 2, "why": ""},
            "type_choice": "drawn by the type bandit with probability 62%",
            "utility": {
                "open_value": 0.14,
                "dismiss_cost": 0.02,
                "opt_out_cost": 0.01,
                "fatigue_cost": 0.03,
                "utility": 0.08,
                "p_dismiss_if_unopened": 0.3,
                "opt_out_hazard": 0.001,
                "fatigue_rate": 0.12,
            },
        },
    )
    decision = customer_explanation(customer)["decision"]
    assert "push 3 of their week" in decision["how_many"] and "worth 4" in decision["how_many"]
    assert "started from 2" in decision["how_many"] and "ceiling of 7" in decision["how_many"]
    assert "exploration" in decision["how_many"]
    assert "type bandit with probability 62%" in decision["type_choice"]
    assert decision["utility"]["utility"] == 0.08 and "+0.0800 opens" in decision["utility"]["why"]
    text = explanation_as_text(customer_explanation(customer))
    assert "How many this week:" in text and "Why this type:" in text and "Utility: Worth +0.0800" in text
