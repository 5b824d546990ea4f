"""RFM values, scores and segments (recommender/ml/rfm.py) on hand-made customers; no database."""

import datetime as dt
import importlib

import numpy as np
import pandas as pd
import pytest

from recommender.ml.rfm import (
    CustomerRfm,
    SegmentRule,
    assign_segments,
    compute_rfm,
    quintile_scores,
    rfm_scores,
    rfm_values,
    uncovered_cells,
)

UTC = dt.UTC
NOW = dt.datetime(2024, 1, 31, tzinfo=UTC)
SEED = importlib.import_module("recommender.migrations.0002_seed_segments").SEGMENTS
SEED_RULES = [(slug, *r, *f, *m) for _, slug, _, r, f, m, _ in sorted(SEED, key=lambda row: row[2])]


def ago(days: float, minutes: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, minutes=minutes)


def event(customer, at, kind="view", transactionid="", amount=None):
    return {"customer": customer, "at": at, "event": kind, "transactionid": transactionid, "amount": amount}


@pytest.fixture
def events() -> pd.DataFrame:
    rows = [
        # ann: three invoices (one of two lines), the last yesterday
        event("ann", ago(1), "transaction", "A1", 100.0),
        event("ann", ago(1), "transaction", "A1", 50.0),
        event("ann", ago(20), "transaction", "A2", 100.0),
        event("ann", ago(30), "transaction", "A3", 50.0),
        # ben: bought once 10 days ago, browsed yesterday: recency counts the purchase
        event("ben", ago(10), "transaction", "B1", 50.0),
        event("ben", ago(1), "view"),
        # cat: bought once, long ago; and a purchase after `now` that must be ignored
        event("cat", ago(40), "transaction", "C1", 20.0),
        event("cat", NOW + dt.timedelta(hours=1), "transaction", "C2", 999.0),
        # dan: two purchases without a transaction id are two purchases
        event("dan", ago(5), "transaction", "", 60.0),
        event("dan", ago(60), "transaction", None, 40.0),
        # eve: never bought; two sessions (the gap is over 30 minutes), the last 3 days ago
        event("eve", ago(3)),
        event("eve", ago(3, minutes=10)),
        event("eve", ago(3, minutes=100)),
        # fay: never bought; one view 100 days ago
        event("fay", ago(100)),
    ]
    return pd.DataFrame(rows)


def test_quintiles_of_distinct_values():
    assert quintile_scores(range(1, 11)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_quintiles_give_ties_the_same_score_and_the_tied_bottom_a_one():
    # Most customers bought once: all of them get 1, whatever their order.
    scores = quintile_scores([1, 1, 4, 1, 1, 2, 1, 1, 3, 1])
    assert scores.tolist() == [1, 1, 5, 1, 1, 4, 1, 1, 5, 1]
    assert quintile_scores([7, 7, 7]).tolist() == [1, 1, 1]
    assert quintile_scores([]).tolist() == []


def test_recency_scores_five_for_the_most_recent():
    assert quintile_scores([1, 50, 3, 400, 20], higher_is_better=False).tolist() == [5, 2, 4, 1, 3]


def test_raw_values(events):
    values = rfm_values(events, now=NOW)
    assert set(values.index) == {"ann", "ben", "cat", "dan", "eve", "fay"}
    ann, ben, cat, dan, eve, fay = (values.loc[name] for name in ["ann", "ben", "cat", "dan", "eve", "fay"])
    assert (ann.frequency, ann.monetary, ann.recency_days, ann.buyer) == (3, 300.0, 1.0, True)
    assert (ben.frequency, ben.recency_days) == (1, 10.0)  # the later view does not make the purchase recent
    assert (cat.frequency, cat.monetary, cat.recency_days) == (1, 20.0, 40.0)  # the future purchase is ignored
    assert (dan.frequency, dan.monetary, dan.recency_days) == (2, 100.0, 5.0)
    assert (eve.frequency, eve.monetary, eve.recency_days, eve.buyer) == (2, 0.0, 3.0, False)
    assert (fay.frequency, fay.monetary, fay.recency_days, fay.buyer) == (1, 0.0, 100.0, False)


def test_timestamps_in_ms_give_the_same_values(events):
    in_ms = events.assign(at=[int(at.timestamp() * 1000) for at in events["at"]])
    pd.testing.assert_frame_equal(rfm_values(in_ms, now=NOW), rfm_values(events, now=NOW))


def test_scores(events):
    scores = rfm_scores(rfm_values(events, now=NOW))
    r, f, m = (scores[c] for c in ["recency_score", "frequency_score", "monetary_score"])
    assert r["ann"] == 5 and r["fay"] == 1
    assert r["ann"] >= r["eve"] >= r["dan"] >= r["ben"] >= r["cat"] >= r["fay"]
    # Any buyer is more frequent than every non-buyer, however many sessions they had.
    assert f["ben"] > f["eve"] >= f["fay"]
    assert f["ben"] == f["cat"]  # one purchase each: equal scores
    assert f["ann"] == 5
    assert m["eve"] == m["fay"] == 1  # no spend
    assert m["ann"] == 5
    for column in ["recency_score", "frequency_score", "monetary_score"]:
        assert scores[column].between(1, 5).all()


def test_every_customer_gets_exactly_one_segment(events):
    result = compute_rfm(events, now=NOW, rules=SEED_RULES)
    assert all(isinstance(row, CustomerRfm) for row in result)
    assert sorted(row.customer for row in result) == ["ann", "ben", "cat", "dan", "eve", "fay"]
    slugs = {rule[0] for rule in SEED_RULES}
    assert all(row.segment in slugs for row in result)
    by_name = {row.customer: row for row in result}
    assert by_name["ann"].segment == "champions"
    assert by_name["fay"].segment == "lost"


def test_seed_rules_cover_every_cell_and_the_first_match_wins():
    assert uncovered_cells(SEED_RULES) == []
    cells = np.array([(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)])
    segments = assign_segments(cells[:, 0], cells[:, 1], cells[:, 2], SEED_RULES)
    rules = [SegmentRule.of(rule) for rule in SEED_RULES]
    for (r, f, m), segment in zip(cells, segments, strict=True):
        matching = [rule.slug for rule in rules if rule.matches(r, f, m)]
        assert segment == matching[0]
    # (5, 5, 5) fits both Champions and Loyal: Champions comes first.
    assert assign_segments([5], [5], [5], SEED_RULES).tolist() == ["champions"]
    assert assign_segments([5], [1], [3], SEED_RULES).tolist() == ["new"]


def test_a_cell_no_rule_covers_gets_the_fallback():
    rules = [("best", 4, 5, 4, 5, 4, 5), ("rest", 1, 3, 1, 5, 1, 5)]
    assert (5, 1, 1) in uncovered_cells(rules)
    assert assign_segments([5, 5], [5, 1], [5, 1], rules).tolist() == ["best", "rest"]
    assert assign_segments([5], [1], [1], rules, fallback="unknown").tolist() == ["unknown"]


def test_one_purchase_majority_on_many_customers():
    rng = np.random.default_rng(0)
    customers = [f"c{i}" for i in range(200)]
    rows = []
    for i, customer in enumerate(customers):
        orders = 1 if i < 120 else int(rng.integers(2, 10))
        for k in range(orders):
            rows.append(event(customer, ago(float(rng.uniform(0, 300))), "transaction", f"{customer}-{k}", 10.0))
    scores = rfm_scores(rfm_values(pd.DataFrame(rows), now=NOW), SEED_RULES)
    once = scores[scores["frequency"] == 1]
    assert len(once) == 120 and (once["frequency_score"] == 1).all()
    assert (scores.loc[scores["frequency"] > 1, "frequency_score"] > 1).all()
    assert scores["segment"].notna().all()
