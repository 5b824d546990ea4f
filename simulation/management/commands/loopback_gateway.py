"""Serves the FCM HTTP v1 stand-in (simulation/gateways/fcm.py) until interrupted."""

import signal

from django.core.management.base import BaseCommand, CommandError

from simulation.gateways.fcm import LoopbackGateway


class Command(BaseCommand):
    help = (
        "A loopback HTTP server that answers like FCM HTTP v1 (including its error codes). "
        "Point the fcm backend at it with FCM_ENDPOINT=http://127.0.0.1:PORT. Tokens starting with "
        "dead-, invalid-, mismatch- or throttle- always fail (UNREGISTERED, INVALID_ARGUMENT, "
        "SENDER_ID_MISMATCH, 429); see simulation/gateways/fcm.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, required=True, help="0 picks a free port (printed)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--record", metavar="FILE", help="append one JSON line per received message")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered 429/500/503")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before each answer")
        parser.add_argument("--seed", type=int, help="makes --fail-rate's choices repeatable")
        parser.add_argument("--retry-after", type=int, default=1, help="seconds sent in a 429's Retry-After")

    def handle(self, *args, **options):
        try:
            gateway = LoopbackGateway(
                host=options["host"],
                port=options["port"],
                record=options["record"],
                fail_rate=options["fail_rate"],
                latency_ms=options["latency_ms"],
                seed=options["seed"],
                retry_after=options["retry_after"],
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"FCM loopback gateway listening: FCM_ENDPOINT={gateway.url} (seed {gateway.seed})")
        self.stdout.flush()
        # A benchmark stops it with SIGTERM: end the same way as Ctrl-C, with the summary.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            gateway.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            gateway.stop()
            answered = ", ".join(f"{n}×{status}" for status, n in sorted(gateway.stats.items())) or "nothing"
            self.stdout.write(f"stopped; answered {answered}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
