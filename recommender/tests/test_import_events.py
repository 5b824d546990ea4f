"""import_events: the contract in DESIGN.md ("Data import format", "Management commands")."""

import gzip
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from devices.models import Customer
from optimus_site.data import shared_data_dir
from recommender.importers import Importer, imported_event_id
from recommender.models import Category, Event, EventSource, Item

HEADER = "timestamp,visitorid,event,itemid,transactionid,amount\n"
T0 = 1433221332117  # 2015-06-02, RetailRocket's era


def write(tmp_path: Path, name: str, text: str, *, gz: bool = False) -> Path:
    path = tmp_path / name
    if gz:
        with gzip.open(path, "wt", newline="") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_events", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_good_rows_load_and_bad_rows_are_reported_with_line_and_reason(tmp_path):
    path = write(
        tmp_path,
        "events.csv",
        HEADER
        + f"{T0},v1,view,i1,,\n"  # line 2: good
        + "notatime,v1,view,i1,,\n"  # line 3
        + f"{T0},v1,click,i1,,\n"  # line 4
        + f"{T0},,view,i1,,\n"  # line 5
        + f"{T0},v2,transaction,i2,t9,abc\n"  # line 6
        + f"{T0},v2,transaction,i2,t9\n"  # line 7: too few fields
        + "1433221332,v2,view,i2,,\n"  # line 8: seconds, not ms -> 1970
        + "99999999999999,v2,view,i2,,\n"  # line 9: far future
        + f"{T0},v2,transaction,i2,t9,-3.00\n"  # line 10: negative
        + f"{T0 + 1},v2,addtocart,i2,,\n"  # line 11: good
        + f"{T0 + 2},v3,transaction,i3,t10,12.50\n",  # line 12: good
    )
    out, err = run(str(path))

    assert Event.objects.count() == 3
    reported = {int(line.split(":")[1]): line for line in err.strip().splitlines()}
    assert sorted(reported) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "timestamp 'notatime' is not milliseconds" in reported[3]
    assert "event 'click' is not one of" in reported[4]
    assert "visitorid is empty" in reported[5]
    assert "amount 'abc' is not a number" in reported[6]
    assert "expected 6 fields, found 5" in reported[7]
    assert "before 2000-01-01" in reported[8]
    assert "in the future" in reported[9]
    assert "negative" in reported[10]
    assert "events: 11 rows, 3 events added, 0 duplicates, 8 rejected" in out
    purchase = Event.objects.get(type="transaction")
    assert purchase.amount == Decimal("12.50")
    assert purchase.transaction_id == "t10"
    assert purchase.source == EventSource.IMPORT
    assert purchase.occurred_at.timestamp() == (T0 + 2) / 1000


@pytest.mark.django_db
def test_reimport_adds_nothing_and_counts_duplicates(tmp_path):
    path = write(tmp_path, "events.csv.gz", HEADER + f"{T0},v1,view,i1,,\n{T0},v1,addtocart,i1,,\n", gz=True)
    run(str(path))
    out, _ = run(str(path))
    assert Event.objects.count() == 2
    assert Customer.objects.count() == 1
    assert "0 events added, 2 duplicates" in out


@pytest.mark.django_db
def test_a_row_is_a_duplicate_only_if_every_field_matches(tmp_path):
    path = write(
        tmp_path,
        "events.csv",
        HEADER
        + f"{T0},v1,transaction,i1,t1,2.00\n"
        + f"{T0},v1,transaction,i1,t1,3.00\n"  # same item twice on one invoice: both real
        + f"{T0},v1,transaction,i1,t1,2.00\n"  # an exact repeat
        + f"{T0},v1,transaction,i1,t2,2.00\n",  # another invoice
    )
    out, _ = run(str(path))
    assert Event.objects.count() == 3
    assert "3 events added, 1 duplicates" in out
    # The id is a hash of every field, not of some of them.
    assert imported_event_id("1", "v", "view", "i", "", "") != imported_event_id("1", "v", "view", "i", "", "0.00")


@pytest.mark.django_db
def test_missing_columns_are_a_clear_error_and_import_nothing(tmp_path):
    path = write(tmp_path, "events.csv", "timestamp,visitor,event\n1,2,view\n")
    with pytest.raises(CommandError, match="missing column.*visitorid"):
        run(str(path))
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot open"):
        run(str(tmp_path / "nope.csv"))


@pytest.mark.django_db
def test_truncated_gzip_keeps_what_was_read_and_reports_where_it_stopped(tmp_path):
    rows = "".join(f"{T0 + i},v{i % 50},view,i{i % 70},,\n" for i in range(20000))
    path = write(tmp_path, "events.csv.gz", HEADER + rows, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _, err = run(str(path))
    assert "cannot be read past this line" in err
    assert 0 < Event.objects.count() < 20000


@pytest.mark.django_db
def test_catalog_files_categories_items_and_properties(tmp_path):
    categories = write(tmp_path, "category_tree.csv", "categoryid,parentid\n10,\n11,10\n12,11\n13,13\n")
    items = write(
        tmp_path,
        "items.csv",
        'itemid,stockcode,title,price\n1,A,"MUG, RED",2.50\n2,B,PLATE,x\n3,C,BOWL,4\n',
    )
    properties = write(
        tmp_path,
        "item_properties.csv",
        "timestamp,itemid,property,value\n"
        f"{T0},1,categoryid,12\n"
        f"{T0 + 10},1,available,0\n"
        f"{T0 + 5},1,available,1\n"  # older than the row above: loses
        f"{T0},3,categoryid,99\n"  # an unknown category is created
        f"{T0},3,790,n1200\n",  # a hashed property: ignored
    )
    events = write(tmp_path, "events.csv", HEADER + f"{T0},v1,view,1,,\n")
    out, err = run(
        str(events), "--categories", str(categories), "--items", str(items), "--item-properties", str(properties)
    )

    assert Category.objects.get(external_id="12").parent.external_id == "11"
    assert Category.objects.get(external_id="10").parent is None
    assert "a category cannot be its own parent" in err
    mug = Item.objects.get(external_id="1")
    assert (mug.title, mug.price, mug.available, mug.category.external_id) == ("MUG, RED", Decimal("2.50"), False, "12")
    assert "price 'x' is not a number" in err and "items.csv:3:" in err
    assert Item.objects.get(external_id="3").category.external_id == "99"
    assert Event.objects.get().item == mug
    assert "items: 3 rows, 2 items added, 0 duplicates, 1 rejected" in out


@pytest.mark.django_db
def test_items_are_updated_on_reimport_not_duplicated(tmp_path):
    items = write(tmp_path, "items.csv", "itemid,title,price\n1,MUG,2.50\n")
    Importer(on_bad_row=print).import_items(items)
    items.write_text("itemid,title,price\n1,MUG,3.00\n")
    report = Importer(on_bad_row=print).import_items(items)
    assert (report.added, report.updated) == (0, 1)
    assert Item.objects.get().price == Decimal("3.00")


@pytest.mark.django_db
def test_online_retail_loads_with_its_catalog_and_reimport_adds_nothing():
    data = shared_data_dir()
    events = data / "online_retail" / "events.csv.gz"
    items = data / "online_retail" / "items.csv"
    out, err = run(str(events), "--items", str(items))
    assert err == ""
    assert Event.objects.count() == 392_690
    assert Customer.objects.count() == 4_338
    assert Item.objects.count() == 3_665
    assert Item.objects.exclude(title="").count() == 3_665
    assert "392,690 events added, 0 duplicates, 0 rejected" in out

    out, _ = run(str(events), "--items", str(items))
    assert Event.objects.count() == 392_690
    assert "0 events added, 392,690 duplicates" in out


# --- unreadable lines (issue 17, item 10) ---------------------------------------------------


def write_bytes(tmp_path: Path, name: str, data: bytes, *, gz: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def bad_lines(err: str) -> dict[int, str]:
    return {int(line.split(":")[1]): line for line in err.strip().splitlines() if line.startswith("bad row")}


@pytest.mark.django_db
@pytest.mark.parametrize("gz", [False, True])
def test_unreadable_lines_are_reported_and_every_good_row_kept(tmp_path, gz):
    data = (
        (
            "\ufeff"  # a BOM before the header
            + HEADER
            + f"{T0},v1,view,i1,,\n"  # 2 good
            # 3-4 a quoted field over two lines: read as one record (and, as a customer id with a line
            # break, refused since customer ids are part of URLs; the rows after it are kept)
            + f'{T0 + 2},"v4\nstill v4",view,i1,,\n'
            + f'{T0 + 4},"{"y" * 140_000}",view,i1,,\n'  # 5 a quoted field over csv.field_size_limit
            + f"{T0 + 3},{'x' * 200_000},view,i1,,\n"  # 6 the same, unquoted
        ).encode()
        + f"{T0 + 6},v\xe9,view,i1,,\n".encode("latin-1")  # 7 not UTF-8
        + (
            f'{T0},"v2,view,i1,,\n'  # 8 an unclosed quote
            + f"{T0 + 1},v3,view,i1,,\n"  # 9 good
            + f"{T0 + 5},v5,view,i1,,\n"  # 10 good
            + f"{T0 + 7},v\xe9,view,i1,,\n"  # 11 good
        ).encode()
    )
    path = write_bytes(tmp_path, "events.csv.gz" if gz else "events.csv", data, gz=gz)
    _, err = run(str(path))

    assert set(Customer.objects.values_list("external_id", flat=True)) == {"v1", "v3", "v5", "vé"}
    reported = bad_lines(err)
    assert sorted(reported) == [3, 5, 6, 7, 8]
    assert "control characters" in reported[3]
    assert "field larger than field limit" in reported[5]
    assert "longer than" in reported[6]
    assert "not valid UTF-8" in reported[7]
    assert "quoted field is not closed" in reported[8]


@pytest.mark.django_db
def test_a_line_over_the_byte_cap_is_skipped(tmp_path):
    data = (HEADER + f"{T0},{'x' * (2 << 20)},view,i1,,\n" + f"{T0},v1,view,i1,,\n").encode()
    _, err = run(str(write_bytes(tmp_path, "events.csv", data)))
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["v1"]
    assert "line is longer than 1,048,576 bytes" in bad_lines(err)[2]


@pytest.mark.django_db
def test_a_truncated_gzip_keeps_the_rows_before_and_reports_the_truncation(tmp_path):
    rows = "".join(f"{T0 + n},v{n},view,i1,,\n" for n in range(20_000))
    whole = gzip.compress((HEADER + rows).encode())
    path = write_bytes(tmp_path, "events.csv.gz", whole[: len(whole) * 3 // 4])
    out, err = run(str(path))
    kept = Event.objects.count()
    assert 0 < kept < 20_000
    (line,) = bad_lines(err).values()
    assert "cannot be read past this line" in line
    assert f"{kept:,} events added" in out


@pytest.mark.django_db
def test_an_item_price_over_max_price_is_a_bad_row(tmp_path):
    path = write(tmp_path, "items.csv", "itemid,title,price\ni1,A,10000000000\ni2,B,9.50\n")
    events = write(tmp_path, "events.csv", HEADER)
    _, err = run(str(events), "--items", str(path))
    assert list(Item.objects.values_list("external_id", "price")) == [("i2", Decimal("9.50"))]
    assert "price '10000000000' is out of range" in bad_lines(err)[2]


@pytest.mark.django_db
def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    path = write(tmp_path, "events.csv", HEADER + "bad,v1,view,i1,,\n")
    err = io.StringIO()
    call_command("import_events", str(path), stdout=io.StringIO(), stderr=err)
    assert "\r" not in capsys.readouterr().err
    assert err.getvalue().startswith("bad row ")
