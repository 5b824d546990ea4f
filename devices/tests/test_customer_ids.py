"""Every customer id the API accepts is addressable (issue 17, item 5): ids are part of
/customers/{id} and /customers/{id}/token, so "/" and control characters are refused wherever a
customer id comes in, instead of creating a customer nobody could erase."""

import pytest

from devices.models import Customer
from tests.api import API, assert_error, now_iso


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a/b", "shop/42", "a\x00b", "tab\there"])
def test_events_bulk_refuses_a_customer_id_no_url_could_address(backend, bad):
    rows = [
        {"customer_id": bad, "type": "app_open", "at": now_iso()},
        {"customer_id": "fine-1", "type": "app_open", "at": now_iso()},
    ]
    body = backend.post(f"{API}/events/bulk", {"events": rows}, format="json").json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and "customer_id must not contain" in body["rejected"][0]["error"]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["fine-1"]


@pytest.mark.django_db
def test_a_customer_id_with_a_nul_is_refused_in_the_path(backend):
    assert_error(backend.put(f"{API}/customers/a%00b", {}, format="json"), 400, "invalid")
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_every_accepted_id_can_be_given_a_token_and_erased(backend):
    odd = "ünï code+id@shop.example~1"
    assert backend.put(f"{API}/customers/{odd}", {}, format="json").status_code == 201
    assert backend.post(f"{API}/customers/{odd}/token").status_code == 201
    assert backend.delete(f"{API}/customers/{odd}").status_code == 204
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_the_importer_refuses_a_visitor_id_no_url_could_address(tmp_path):
    from recommender.importers import Importer

    path = tmp_path / "events.csv"
    path.write_text(
        "timestamp,visitorid,event,itemid,transactionid,amount\n"
        "1433221332117,a/b,view,1,,\n"
        "1433221332118,fine,view,1,,\n"
    )
    bad = []
    Importer(on_bad_row=bad.append).import_events(path)
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["fine"]
    assert len(bad) == 1 and 'must not contain "/"' in str(bad[0]) and ":2:" in str(bad[0])
