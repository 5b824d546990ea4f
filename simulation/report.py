"""The effectiveness report of `simulate --report DIR`: each run adds its JSON to DIR and the page
is rebuilt from every policy found there, side by side."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from campaigns.charts import bar_chart, line_chart
from campaigns.results import Comparison

ORDER = ("blast", "seed", "optimus")
SUMMARY = ("sends", "deliveries", "opens", "ctr", "dismissals", "opt_outs", "purchases", "sends_per_user_week")


def write_report(directory: str | Path, result: dict) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{result['policy']}.json").write_text(json.dumps(result, indent=2))
    runs = {}
    for policy in ORDER:
        path = out / f"{policy}.json"
        if path.exists():
            runs[policy] = json.loads(path.read_text())
    page = out / "index.html"
    page.write_text(render(runs))
    return page


def render(runs: dict[str, dict]) -> str:
    first = next(iter(runs.values()))
    labels = [d["date"][5:] for d in first["daily"]]

    def daily(key: str) -> dict[str, list[float]]:
        return {p: [d[key] for d in r["daily"]] for p, r in runs.items()}

    ctr = {p: [d["opens"] / d["sends"] if d["sends"] else None for d in r["daily"]] for p, r in runs.items()}
    charts = [
        line_chart("Notifications sent per day", daily("sends"), labels),
        line_chart("Opens per day", daily("opens"), labels),
        line_chart("Click-through rate per day", ctr, labels, percent=True),
        line_chart("Opt-outs per day", daily("opt_outs"), labels),
    ]
    rows = "".join(
        f"<tr><th>{escape(key)}</th>" + "".join(f"<td>{r[key]:,}</td>" for r in runs.values()) + "</tr>"
        for key in SUMMARY
    )
    segment_charts = []
    for policy, run in runs.items():
        seg = run.get("segments", {})
        ctr_by_segment = {s: v["opens"] / v["sends"] if v["sends"] else 0.0 for s, v in seg.items()}
        segment_charts.append(bar_chart(f"{policy}: CTR by segment", ctr_by_segment, percent=True))
        segment_charts.append(bar_chart(f"{policy}: opt-outs by segment", {s: v["opt_outs"] for s, v in seg.items()}))
    uplift_rows = "".join(uplift_row(p, r["uplift"]) for p, r in runs.items() if r.get("uplift"))
    world = f"{first['users']:,} simulated people, {first['days']} days, seed {first['seed']}"
    heads = "".join(f"<th>{escape(p)}</th>" for p in runs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Optimus: effectiveness report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}} .charts{{display:flex;flex-wrap:wrap;gap:16px}}</style>
</head><body>
<h1>Effectiveness report</h1>
<p>{escape(world)}. Policies: <b>blast</b> = everyone daily at 10:00 local with the most popular items;
<b>seed</b> = the original method (mode hour, first allowed type, top item, no cap);
<b>optimus</b> = the product (train, plan, dispatch, feedback).</p>
<table><tr><th></th>{heads}</tr>{rows}</table>
<h2>Treated vs control (people who bought within 24 h of a planned time; as the dashboard)</h2>
<table><tr><th>policy</th><th>treated people</th><th>decisions</th><th>rate</th>
<th>control people</th><th>decisions</th>
<th>rate</th><th>uplift</th></tr>{uplift_rows}</table>
<h2>Per day</h2><div class="charts">{"".join(charts)}</div>
<h2>Per segment</h2><div class="charts">{"".join(segment_charts)}</div>
</body></html>
"""


def uplift_row(policy: str, counts: dict) -> str:
    """One policy's treated vs control, computed by campaigns.results like the dashboard's."""
    c = Comparison(**counts)

    def rate(converted: int, people: int, interval) -> str:
        if interval is None:
            return "–"
        return f"{converted / people:.1%} ({interval[0]:.1%}–{interval[1]:.1%})"

    if c.enough and c.interval:
        uplift = f"{c.difference * 100:+.2f} points ({c.interval[0] * 100:+.2f} to {c.interval[1] * 100:+.2f})"
    else:
        uplift = "too few to tell"
    return (
        f"<tr><th>{escape(policy)}</th><td>{c.treated:,}</td><td>{c.treated_decisions:,}</td>"
        f"<td>{rate(c.treated_converted, c.treated, c.treated_interval)}</td><td>{c.control:,}</td>"
        f"<td>{c.control_decisions:,}</td><td>{rate(c.control_converted, c.control, c.control_interval)}</td>"
        f"<td>{escape(uplift)}</td></tr>"
    )
