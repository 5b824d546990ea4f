"""recommender/ml: metrics, the split protocol, scoring and the offline evaluation — no database."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from django.core.management import call_command

from recommender.ml.data import DAY_MS, ItemCatalog, events_frame, load_catalog, load_events, time_split
from recommender.ml.factorization import LightfmParams
from recommender.ml.itemknn import prune_rows
from recommender.ml.metrics import ndcg, ranking_metrics, topk_rows
from recommender.ml.ranking import MODES, FitOptions, Pool, coordinate_ascent, fit_recommender
from recommender.ml.ranking_signals import user_item_history
from simulation.world import sample_interactions

FAST = FitOptions(max_validation_users=300, max_epochs=10, lightfm_params=LightfmParams(no_components=8))
LOG2_3 = np.log2(3)


# Metrics ---------------------------------------------------------------------------------------


def test_ndcg_reference_hand_computed():
    # Hit at rank 2 of 3; two relevant items: DCG = 1/log2(3), ideal = 1 + 1/log2(3).
    assert ndcg(["a", "b", "c"], {"b", "d"}, k=3) == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert ndcg(["a", "b"], {"a", "b"}, k=2) == pytest.approx(1.0)
    assert ndcg(["x", "y"], {"a"}, k=2) == 0.0
    # Ideal DCG runs over min(|relevant|, k) items: 5 relevant, k = 2, one hit at rank 1.
    assert ndcg(["a", "x"], {"a", "b", "c", "d", "e"}, k=2) == pytest.approx(1 / (1 + 1 / LOG2_3))


def test_ranking_metrics_hand_computed():
    # Candidates 0..4. User 0: list [1, 3, 0], relevant {3, 4} + one item outside the candidates.
    # User 1: list [2, -1, -1] (padding), relevant {2}. User 2: nothing relevant among candidates.
    top = np.array([[1, 3, 0], [2, -1, -1], [4, 0, 1]])
    relevant = sp.csr_matrix(np.array([[0, 0, 0, 1, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    n_relevant = np.array([3, 1, 2])
    m = ranking_metrics(top, relevant, n_relevant, k=3, n_candidates=5)
    ndcg0 = (1 / LOG2_3) / (1 + 1 / LOG2_3 + 1 / 2)
    assert m["precision@3"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert m["recall@3"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert m["ndcg@3"] == pytest.approx((ndcg0 + 1 + 0) / 3)
    assert m["hit_rate@3"] == pytest.approx(2 / 3)
    assert m["coverage"] == pytest.approx(5 / 5)
    assert ranking_metrics(top[:, :1], relevant, n_relevant, k=1, n_candidates=10)["coverage"] == pytest.approx(0.3)


@pytest.mark.parametrize("shape", [(7, 30), (40, 700), (25, 5003), (3, 70000)])
def test_topk_rows_is_exact(shape):
    rng = np.random.default_rng(shape[1])
    scores = rng.standard_normal(shape).astype(np.float32)
    scores[:, ::7] = np.round(scores[:, ::7])  # ties
    idx, vals = topk_rows(scores, 10)
    expected = -np.sort(-scores, axis=1)[:, :10]
    np.testing.assert_allclose(vals, expected)
    np.testing.assert_allclose(np.take_along_axis(scores, idx, 1), expected)


def test_topk_rows_pads_minus_inf_and_short_rows():
    scores = np.array([[1.0, -np.inf, 3.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float32)
    idx, vals = topk_rows(scores, 5)
    assert idx.tolist() == [[2, 0, -1, -1, -1], [-1, -1, -1, -1, -1]]
    assert vals[0, :2].tolist() == [3.0, 1.0]


def test_topk_rows_wide_rows_with_exclusions():
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((4, 3001)).astype(np.float32)
    scores[0] = -np.inf  # everything excluded
    scores[1, 3:] = -np.inf  # three candidates left
    scores[2, -1] = 99.0  # the best one in the tail that fills no group
    idx, vals = topk_rows(scores, 10)
    assert (idx[0] == -1).all() and np.isneginf(vals[0]).all()
    assert sorted(idx[1, :3]) == [0, 1, 2] and (idx[1, 3:] == -1).all()
    assert idx[2, 0] == 3000
    np.testing.assert_allclose(vals[3], -np.sort(-scores[3])[:10])


def test_prune_rows_keeps_the_largest():
    m = sp.random(50, 80, density=0.5, format="csr", random_state=1)
    pruned = prune_rows(m, 5)
    assert np.diff(pruned.indptr).max() == 5
    np.testing.assert_allclose(np.sort(pruned.toarray(), 1)[:, -5:], np.sort(m.toarray(), 1)[:, -5:])


# Split protocol -----------------------------------------------------------------------------------


def frame(rows):
    c, i, t, ts = zip(*rows, strict=True)
    return events_frame(customer=c, item=i, event_type=t, timestamp=ts)


def test_time_split_protocol_no_leak():
    end = 100 * DAY_MS
    events = frame(
        [
            ("a", 1, "view", end - 40 * DAY_MS),
            ("a", 2, "view", end - 5 * DAY_MS),  # test
            ("b", 1, "view", end - 50 * DAY_MS),  # train only: not a test user
            ("c", 3, "transaction", end - 1 * DAY_MS),  # test only: not a test user
            ("d", 2, "view", end - 10 * DAY_MS - 1),  # one ms before the cutoff: train
            ("d", 9, "addtocart", end - 10 * DAY_MS),  # exactly the cutoff: test
            ("d", 2, "view", end),
        ]
    )
    split = time_split(events, 10)
    assert split.cutoff_ms == end - 10 * DAY_MS
    assert split.train["timestamp"].max() < split.cutoff_ms <= split.test["timestamp"].min()
    assert list(split.test_users) == ["a", "d"]
    assert set(split.test["customer"]) == {"a", "d"}
    relevant, n_relevant = split.relevance(np.array([1, 2]))  # candidates = items seen in train
    assert relevant.toarray().tolist() == [[0, 1], [0, 1]]
    assert n_relevant.tolist() == [1, 2]  # d's item 9 is not a candidate but still relevant


def test_fit_never_sees_events_at_or_after_now():
    events, _ = sample_interactions(4000, 300, 150, days=60, seed=3)
    now = int(events["timestamp"].quantile(0.7))
    future_items = set(events.loc[events["timestamp"] >= now, "item"]) - set(
        events.loc[events["timestamp"] < now, "item"]
    )
    fitted = fit_recommender(events, now_ms=now, options=FitOptions(tune=False, lightfm=False))
    assert fitted.now_ms == now
    assert fitted.seen.sum() == events[events["timestamp"] < now].groupby(["customer", "item"]).ngroups
    assert future_items and not future_items & set(fitted.item_ids)


def test_evaluate_command_writes_the_contract(tmp_path):
    events, _ = sample_interactions(6000, 400, 200, days=60, seed=4)
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as f:
        events.rename(columns={"customer": "visitorid", "item": "itemid", "type": "event"}).assign(transactionid="")[
            ["timestamp", "visitorid", "event", "itemid", "transactionid"]
        ].to_csv(f, index=False)
    out = tmp_path / "out.json"
    call_command("evaluate_recommender", str(path), "--test-days", "10", "--k", "5", "--json", str(out), "--quiet")
    result = json.loads(out.read_text())
    split = time_split(load_events(str(path)), 10)
    assert result["split"] == {
        "cutoff_ms": split.cutoff_ms,
        "train_events": len(split.train),
        "test_users": len(split.test_users),
        "items": split.train["item"].nunique(),
    }
    assert {"popularity", "item_knn", "lightfm", "optimus"} <= set(result["models"])
    for metrics in result["models"].values():
        assert set(metrics) == {"precision@5", "recall@5", "ndcg@5", "hit_rate@5", "coverage", "fit_s", "score_s"}
        assert 0 <= metrics["ndcg@5"] <= 1


# Serving ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_with_catalog():
    events, catalog = sample_interactions(8000, 500, 300, days=60, unavailable=0.3, seed=5)
    # The most popular item is unavailable: every popularity-driven list would want it.
    top_item = events["item"].value_counts().index[0]
    catalog.available[catalog.item == top_item] = False
    return events, catalog, fit_recommender(events, catalog=catalog, options=FAST)


def test_unavailable_items_are_never_served(fitted_with_catalog):
    events, catalog, fitted = fitted_with_catalog
    unavailable = set(catalog.item[~catalog.available])
    users = np.arange(fitted.n_users)
    extra = np.ones(fitted.n_items, dtype=bool)
    extra[::5] = False  # the caller narrows availability further
    for model in fitted.models():
        for exclude_seen in (False, True):
            top, _ = fitted.recommend(users, 10, exclude_seen=exclude_seen, model=model)
            served = set(fitted.item_ids[top[top >= 0]])
            assert served and not served & unavailable, model
            top, _ = fitted.recommend(users, 10, exclude_seen=exclude_seen, model=model, available=extra)
            assert extra[top[top >= 0]].all()
            assert fitted.available[top[top >= 0]].all()
    similar, _ = fitted.similar_items(np.arange(fitted.n_items), 5)
    assert fitted.available[similar[similar >= 0]].all()


def test_exclude_seen_and_blocks(fitted_with_catalog):
    _, _, fitted = fitted_with_catalog
    users = np.arange(fitted.n_users)
    top, scores = fitted.recommend(users, 10, exclude_seen=True)
    seen = fitted.seen[users[:, None], np.maximum(top, 0)].toarray() > 0
    assert not (seen & (top >= 0)).any()
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    small = fitted.block_elements
    fitted.block_elements = 1000  # many tiny blocks: same answer
    try:
        top_small, _ = fitted.recommend(users, 10, exclude_seen=True)
    finally:
        fitted.block_elements = small
    np.testing.assert_array_equal(top, top_small)


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_blocked_scoring_matches_the_dense_definition(fitted_with_catalog, monkeypatch, exclude_seen):
    """The served path (fused product, sparse kernels added in place, threads) against
    score = Σ weight × signal, each signal computed densely on its own."""
    _, _, fitted = fitted_with_catalog
    users = np.concatenate([np.arange(fitted.n_users), [-1, 3, -1]])  # cold users mixed in
    extra = np.ones(fitted.n_items, dtype=bool)
    extra[::7] = False
    columns = np.flatnonzero(fitted.available & extra)  # signals are scaled over the servable items
    weights = {"hist_count": 1.0, "hist_recent": 0.2, "pop_recent": 0.3, "knn": 0.5, "ease": 0.4, "lightfm": 0.1}
    weights = {n: w for n, w in weights.items() if n in fitted.signals}
    assert {"knn", "ease", "lightfm"} <= set(weights)
    dense = sum(w * fitted.signal_block(name, users, columns) for name, w in weights.items())
    if exclude_seen:
        warm = users >= 0
        dense[warm] = np.where(fitted.seen[users[warm]][:, columns].toarray() > 0, -np.inf, dense[warm])
    expected = -np.sort(-dense, axis=1)[:, :10]

    def served(threads: int):
        fitted.scoring_threads = threads
        return fitted.recommend(users, 10, exclude_seen=exclude_seen, available=extra, weights=weights)

    monkeypatch.setattr("recommender.ml.ranking.scoring.PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(fitted, "block_elements", 300 * 64)  # several blocks of 64 rows
    try:
        answers = [served(1), served(3)]
    finally:
        fitted.scoring_threads = 0
    # Threads score blocks of fewer rows, and BLAS may pick another kernel for another block height
    # (which one depends on the CPU): both answers are checked against the definition, not against
    # each other bit for bit (they differ in the last float32 bit on some CPUs).
    for top, scores in answers:
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
        found = top >= 0
        where = np.searchsorted(columns, np.maximum(top, 0))
        assert (columns[where][found] == top[found]).all()
        np.testing.assert_allclose(np.take_along_axis(dense, where, 1)[found], scores[found], rtol=1e-5, atol=1e-6)
        assert (found == np.isfinite(expected)).all()


def test_cold_users_get_trending_items(fitted_with_catalog):
    _, _, fitted = fitted_with_catalog
    cold, _ = fitted.recommend(fitted.user_positions(["nobody", "nobody else"]), 5)
    assert (cold[0] == cold[1]).all() and (cold >= 0).all()


def test_new_people_get_correlated_items(fitted_with_catalog):
    _, _, fitted = fitted_with_catalog
    basket = [int(fitted.seen[0].indices[0])]
    top, _ = fitted.recommend_from_items([basket, []], 5)
    similar, _ = fitted.similar_items(np.array(basket), 5)
    assert basket[0] not in top[0] and fitted.available[top[top >= 0]].all()
    assert top[0, 0] == similar[0, 0]  # one item: its nearest neighbour first
    assert (top[1] >= 0).all()  # nothing known: trending items


def test_fit_records_choices_for_both_modes(fitted_with_catalog):
    _, _, fitted = fitted_with_catalog
    assert set(fitted.weights) == set(MODES)
    assert fitted.params["lightfm"]["no_components"] == 8
    assert "optimus" in fitted.validation["ndcg@10"]
    assert fitted.lightfm.user_vectors.shape == (fitted.n_users, 8)


# Signals and blend --------------------------------------------------------------------------------


def test_history_open_carts():
    day = DAY_MS
    events = frame(
        [
            ("u", "cart-only", "addtocart", 1 * day),
            ("u", "bought", "addtocart", 2 * day),
            ("u", "bought", "transaction", 3 * day),
            ("u", "viewed", "view", 3 * day),
        ]
    )
    from recommender.ml.data import Interactions

    inter = Interactions.build(events, now_ms=4 * day)
    history = user_item_history(inter)
    open_cart = history.feature("hist_open_cart").toarray()[0]
    by_item = dict(zip(inter.item_ids, open_cart, strict=True))
    assert by_item["cart-only"] > 0 and by_item["bought"] == 0 and by_item["viewed"] == 0


def test_coordinate_ascent_finds_the_informative_signal():
    rng = np.random.default_rng(0)
    users, slots = 300, 40
    labels = rng.uniform(size=(users, slots)) < 0.1
    informative = labels + rng.normal(0, 0.3, (users, slots))
    noise = rng.normal(0, 1, (users, slots))
    pool = Pool(
        features=np.stack([noise, informative]).astype(np.float32),
        valid=np.ones((users, slots), dtype=bool),
        labels=labels,
        n_relevant=labels.sum(axis=1),
    )
    weights, score = coordinate_ascent(pool, ["noise", "informative"], k=5)
    assert weights.get("informative", 0) > 10 * weights.get("noise", 0)
    assert score > pool.ndcg(pool.features[0], 5)


def test_load_catalog_as_of_the_cutoff(tmp_path):
    (tmp_path / "items.csv").write_text("itemid,title,price\n1,Mug,3.5\n2,Lamp,20\n")
    (tmp_path / "props.csv").write_text(
        "timestamp,itemid,property,value\n"
        "100,1,categoryid,7\n100,1,available,1\n100,2,available,1\n"
        "200,2,available,0\n"  # before the cutoff: counts
        "900,1,available,0\n900,3,categoryid,8\n"  # after the cutoff: ignored
    )
    (tmp_path / "tree.csv").write_text("categoryid,parentid\n7,5\n5,\n")
    catalog = load_catalog(
        items=str(tmp_path / "items.csv"),
        item_properties=str(tmp_path / "props.csv"),
        categories=str(tmp_path / "tree.csv"),
        as_of_ms=500,
    )
    aligned = catalog.aligned(np.array([1, 2, 3]))
    assert aligned.available.tolist() == [True, False, True]
    assert aligned.category.tolist() == ["7", None, None]
    assert aligned.lineage("7") == ["7", "5"]
    assert aligned.price[:2].tolist() == [3.5, 20.0]


def test_events_frame_accepts_datetimes_and_catalog_lineage():
    when = pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"])
    events = events_frame(customer=[1, 2], item=[5, None], event_type=["VIEW", "view"], timestamp=when)
    assert events["timestamp"].tolist() == [1704067200000] and events["type"].tolist() == ["view"]
    catalog = ItemCatalog.from_frame(pd.DataFrame({"item": [1], "category": ["c"]}), {"c": "b", "b": "a", "a": "c"})
    assert catalog.lineage("c") == ["c", "b", "a"]  # a cycle in the tree stops
