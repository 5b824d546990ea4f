"""The default backend: sends nothing, records what would have been sent, always succeeds."""

import collections
import dataclasses
import json
import logging
import threading
import uuid

from django.utils import timezone

from campaigns.push.base import PLATFORMS, PushBackend, PushMessage, PushResult

logger = logging.getLogger(__name__)

# What the log backend "sent", newest last, for tests and the demo (like django.core.mail.outbox).
# Bounded: the log backend is the default, and a dev server left running must not grow forever.
outbox: collections.deque[dict] = collections.deque(maxlen=10_000)

_file_lock = threading.Lock()


class LogBackend(PushBackend):
    name = "log"
    platforms = frozenset(PLATFORMS)

    def __init__(self, *, log_file: str = ""):
        self.log_file = log_file

    def _send(self, messages: list[PushMessage]) -> list[PushResult]:
        at = timezone.now().isoformat()
        records, results = [], []
        for m in messages:
            provider_message_id = f"log-{uuid.uuid4().hex}"
            try:
                record = {"at": at, "provider_message_id": provider_message_id, **dataclasses.asdict(m)}
                line = json.dumps(record, ensure_ascii=False) + "\n"
            except Exception as exc:  # e.g. a payload JSON cannot hold: this message alone fails
                results.append(PushResult.unexpected(m, exc))
                continue
            records.append((record, line))
            results.append(PushResult.success(m, provider_message_id))
            logger.info(
                "push (log backend) delivery=%s %s token=%s…: %r %s",
                m.delivery_id,
                m.platform,
                m.token[:12],
                m.title,
                m.data,
            )
        outbox.extend(record for record, _ in records)
        if self.log_file:
            lines = "".join(line for _, line in records)
            # One write per batch under a lock: lines from concurrent threads never interleave.
            with _file_lock, open(self.log_file, "a", encoding="utf-8") as f:
                f.write(lines)
        return results
