"""manage.py evaluate_policy --candidate NAME [--since DATE] [--until DATE] [--json OUT]

What a candidate policy would have achieved on the automated pushes logged in a period (campaigns.ope):
opens, dismissals, opt-outs and sends by IPS, self-normalised IPS and doubly-robust estimates with 95 %
intervals, and the share of the log that supports them.
"""

import datetime as dt
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns import ope
from campaigns.management.commands.train import parse_moment

DEFAULT_DAYS = 28


class Command(BaseCommand):
    help = (
        "Estimate what a candidate policy would have achieved from the logged automated pushes (IPS, SNIPS, "
        f"DR with 95% intervals and support). Candidates: {', '.join(ope.OFFERED)} (any rate or k)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--candidate", required=True, help="e.g. exploration=0, fixed-frequency=2, seed-like")
        parser.add_argument("--since", help=f"first day or moment (default: {DEFAULT_DAYS} days before --until)")
        parser.add_argument("--until", help="end, exclusive (default: now)")
        parser.add_argument(
            "--json", nargs="?", const="-", dest="json_out", help="write the numbers as JSON to a file (or stdout)"
        )

    def handle(self, *args, **options):
        until = parse_moment(options["until"], "--until") if options["until"] else timezone.now()
        since = parse_moment(options["since"], "--since") if options["since"] else until - dt.timedelta(DEFAULT_DAYS)
        if since >= until:
            raise CommandError("--since must be before --until")
        try:
            evaluation = ope.policy_evaluate(candidate=options["candidate"], since=since, until=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["json_out"] == "-":
            self.stdout.write(json.dumps(evaluation.as_dict(), indent=2))
            return
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(evaluation.as_dict(), indent=2))
        self.stdout.write(format_table(evaluation))
        if options["json_out"]:
            sys.stderr.write(f"wrote {options['json_out']}\n")


def format_table(evaluation: ope.Evaluation) -> str:
    e = evaluation
    lines = [
        f"{e.candidate}: {e.description}",
        f"{e.decisions} logged automated sends from {e.since:%Y-%m-%d %H:%M} to {e.until:%Y-%m-%d %H:%M} UTC"
        + (f" ({e.left_out} more without propensities, left out)" if e.left_out else ""),
        f"support {e.support:.1%} of the log, effective size {e.effective_size:.0f} sends",
        "",
        f"{'':14}" + "".join(f"{name:>28}" for name in ope.OUTCOMES),
        f"{'log':14}" + "".join(f"{e.logged[name]:>28.0f}" for name in ope.OUTCOMES),
    ]
    for method in ope.METHODS:
        cells = []
        for outcome in ope.OUTCOMES:
            value, low, high = e.figure(method, outcome)
            digits = 4 if method == "snips" else 1
            cells.append(f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]" if e.decisions else "n/a")
        label = "snips per send" if method == "snips" else f"{method} total"
        lines.append(f"{label:14}" + "".join(f"{cell:>28}" for cell in cells))
    lines.append("95% intervals. A no-send is not logged: IPS and DR are totals, SNIPS a rate per send.")
    return "\n".join(lines)
