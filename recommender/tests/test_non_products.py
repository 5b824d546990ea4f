"""Non-products (issue 17, item 15): postage, fees and other charges on a shop's invoices are never
recommended — whether the shop marks them (`recommendable: false`) or the default detection does."""

from pathlib import Path

import pytest

from recommender.importers import Importer
from recommender.models import Item
from recommender.non_products import looks_like_non_product
from tests.api import API, item_row


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("POST", "POSTAGE"),
        ("DOT", "DOTCOM POSTAGE"),
        ("C2", "CARRIAGE"),
        ("23444", "Next Day Carriage"),
        ("M", "Manual"),
        ("BANK CHARGES", "Bank Charges"),
        ("AMAZONFEE", "AMAZON FEE"),
        ("99", "Gift wrapping"),
        ("99", "Shipping fee"),
        ("99", "Delivery charge (express)"),
        ("99", "  discount "),
    ],
)
def test_charges_and_adjustments_are_detected(code, title):
    assert looks_like_non_product(code, title)


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("22045", "SPACEBOY GIFT WRAP"),  # wrapping paper a gift shop sells
        ("85032D", "YULETIDE IMAGES GIFT WRAP SET"),
        ("23099", "FRENCH CARRIAGE LANTERN"),
        ("85168B", "BLACK BAROQUE CARRIAGE CLOCK"),
        ("1", "Manual coffee grinder"),
        ("2", "Postage stamps album"),
        ("3", "Discount card holder"),
        ("4", ""),
    ],
)
def test_products_that_merely_share_a_word_are_not(code, title):
    assert not looks_like_non_product(code, title)


def test_the_online_retail_catalog_loses_exactly_its_charges():
    import csv

    from optimus_site.data import shared_data_dir

    with open(shared_data_dir() / "online_retail" / "items.csv", newline="") as f:
        flagged = {
            row["stockcode"] for row in csv.DictReader(f) if looks_like_non_product(row["stockcode"], row["title"])
        }
    assert flagged == {"POST", "DOT", "C2", "M", "BANK CHARGES", "23444"}


@pytest.mark.django_db
def test_items_bulk_detects_new_charges_and_keeps_what_the_shop_or_an_operator_said(backend):
    rows = [
        item_row("sku-1"),
        item_row("post", title="POSTAGE"),
        item_row("wrap", title="Gift wrapping", recommendable=True),  # the shop says: recommend it
        item_row("mug-2", recommendable=False),
    ]
    body = backend.post(f"{API}/items/bulk", {"items": rows}, format="json").json()
    assert body["accepted"] == 4 and body["rejected"] == []
    flags = dict(Item.objects.values_list("external_id", "recommendable"))
    assert flags == {"sku-1": True, "post": False, "wrap": True, "mug-2": False}

    # An operator turns postage back on in the admin; the next catalog sync without the field keeps it.
    Item.objects.filter(external_id="post").update(recommendable=True)
    body = backend.post(f"{API}/items/bulk", {"items": [item_row("post", title="POSTAGE", price=5)]}, format="json")
    assert body.json()["accepted"] == 1
    assert Item.objects.get(external_id="post").recommendable is True


@pytest.mark.django_db
def test_items_bulk_refuses_a_recommendable_that_is_not_a_boolean_and_keeps_the_good_rows(backend):
    rows = [item_row("sku-1", recommendable="no"), item_row("sku-2")]
    body = backend.post(f"{API}/items/bulk", {"items": rows}, format="json").json()
    assert body["rejected"] == [{"index": 0, "error": "recommendable must be true or false"}]
    assert list(Item.objects.values_list("external_id", flat=True)) == ["sku-2"]


@pytest.mark.django_db
def test_the_importer_detects_charges_by_stock_code_or_title_and_obeys_a_column(tmp_path: Path):
    path = tmp_path / "items.csv"
    path.write_text(
        "itemid,stockcode,title,price\n"
        "1,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2.55\n"
        "46,POST,POSTAGE,18\n"
        "855,M,Manual,1.25\n"
        "3392,DOT,DOTCOM POSTAGE,11.17\n"
    )
    Importer(on_bad_row=print).import_items(path)
    assert dict(Item.objects.values_list("external_id", "recommendable")) == {
        "1": True, "46": False, "855": False, "3392": False,
    }  # fmt: skip

    # Reimporting the same file leaves an operator's correction alone: the guess is for new titles only.
    Item.objects.filter(external_id="855").update(recommendable=True)
    Importer(on_bad_row=print).import_items(path)
    assert Item.objects.get(external_id="855").recommendable is True

    # A `recommendable` column is the shop's word, for new and known items alike.
    path.write_text("itemid,title,recommendable\n46,POSTAGE,1\n1,Holder,0\n")
    Importer(on_bad_row=print).import_items(path)
    assert dict(Item.objects.filter(external_id__in=["1", "46"]).values_list("external_id", "recommendable")) == {
        "1": False, "46": True,
    }  # fmt: skip
