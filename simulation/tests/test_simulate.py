"""`simulate`: the closed loop on a small seeded world (DESIGN.md, "Simulated world")."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns import dispatcher, planner, services
from devices.models import Customer
from simulation import simulator

SMALL = {"n_items": 300, "n_categories": 20}


@pytest.fixture
def world_file(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(SMALL))
    return str(path)


@pytest.fixture(autouse=True)
def artifacts(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"


def simulate(tmp_path, world_file, policy, *, days=3, seed=3, users=150, report=None) -> dict:
    out = tmp_path / f"{policy}-{seed}.json"
    args = ["--users", str(users), "--days", str(days), "--seed", str(seed), "--policy", policy]
    args += ["--world", world_file, "--json", str(out), "--quiet"]
    if report:
        args += ["--report", str(report)]
    call_command("simulate", *args, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return json.loads(out.read_text())


def spy(monkeypatch, owner, name, calls):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls[name] = calls.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.django_db
def test_optimus_runs_the_production_train_plan_dispatch_feedback_path(tmp_path, world_file, monkeypatch):
    calls: dict[str, int] = {}
    spy(monkeypatch, simulator, "model_train", calls)
    spy(monkeypatch, planner, "plan", calls)
    spy(monkeypatch, dispatcher, "dispatch", calls)
    spy(monkeypatch, services, "feedback_record", calls)
    result = simulate(tmp_path, world_file, "optimus")
    assert calls["model_train"] == 1 and calls["plan"] == 3 and calls["dispatch"] == 3 * 24
    assert calls["feedback_record"] >= result["deliveries"] > 0  # "delivered", then opened or dismissed
    assert set(result) >= {"sends", "deliveries", "opens", "ctr", "dismissals", "opt_outs", "purchases",
                           "sends_per_user_week"}  # fmt: skip
    assert result["sends"] == sum(day["sends"] for day in result["daily"])


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path, world_file):
    first = simulate(tmp_path, world_file, "optimus", days=2)
    second = simulate(tmp_path, world_file, "optimus", days=2)
    other = simulate(tmp_path, world_file, "optimus", days=2, seed=4)
    for run in (first, second, other):
        run.pop("seconds")
    assert first == second
    assert first != other


def test_the_same_seed_gives_the_same_run_in_another_process(tmp_path, world_file):
    # Two processes hash strings differently (PYTHONHASHSEED): nothing the run creates may take
    # its order from a set of strings. Once, customers and items were numbered in set order.
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    runs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run-{hash_seed}.json"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PUSH_BACKEND="log",
                   DATABASE_URL=f"sqlite:///{tmp_path / f'run-{hash_seed}.sqlite3'}",
                   MODEL_ARTIFACT_DIR=str(tmp_path / f"models-{hash_seed}"))  # fmt: skip
        env.pop("CELERY_BROKER_URL", None)
        command = [sys.executable, str(manage), "simulate", "--users", "150", "--days", "2", "--seed", "3"]
        command += ["--policy", "optimus", "--world", world_file, "--json", str(out), "--quiet"]
        runs.append((subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True), out))
    results = []
    for process, out in runs:
        _, errors = process.communicate(timeout=600)
        assert process.returncode == 0, errors[-2000:]
        result = json.loads(out.read_text())
        result.pop("seconds")
        results.append(result)
    assert results[0] == results[1]
    assert results[0]["sends"] > 0


@pytest.mark.django_db
def test_blast_sends_everyone_daily_and_the_report_puts_policies_side_by_side(tmp_path, world_file):
    report = tmp_path / "report"
    blast = simulate(tmp_path, world_file, "blast", report=report)
    optimus = simulate(tmp_path, world_file, "optimus", report=report)
    assert blast["sends"] >= 0.9 * 150 * 3
    assert optimus["sends"] < blast["sends"]
    page = (report / "index.html").read_text()
    assert "<th>blast</th>" in page and "<th>optimus</th>" in page and page.count("<polyline") >= 8
    assert json.loads((report / "blast.json").read_text())["sends"] == blast["sends"]


@pytest.mark.django_db
def test_refuses_a_database_with_real_customers_and_bad_arguments(tmp_path, world_file):
    Customer.objects.create(external_id="a-real-person")
    with pytest.raises(CommandError, match="real customers"):
        simulate(tmp_path, world_file, "blast", days=1)
    with pytest.raises(CommandError):
        call_command("simulate", "--policy", "blast", "--users", "0", "--json", str(tmp_path / "x.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_parameter": 1}))
    with pytest.raises(CommandError, match="--world"):
        call_command("simulate", "--policy", "blast", "--world", str(bad), "--json", str(tmp_path / "x.json"))


@pytest.mark.django_db
def test_the_report_and_the_dashboard_give_the_same_treated_vs_control(tmp_path, world_file, settings):
    # One function computes it (campaigns.results.treated_vs_control): the same run, the same numbers.
    import datetime as dt

    from campaigns import dashboard

    settings.PLAN_CONTROL_SHARE = 0.3
    result = simulate(tmp_path, world_file, "optimus", days=3, report=tmp_path / "report")
    uplift = dashboard.uplift(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert result["uplift"] == uplift.as_dict()
    assert uplift.treated > 0 and uplift.control > 0
    assert uplift.treated_decisions >= uplift.treated  # people, not notifications
    assert "Treated vs control" in (tmp_path / "report" / "index.html").read_text()
