"""The django-webhook + Celery peer's own commands, run in its virtualenv with ``PEER_DSN`` and
``PEER_QUEUE`` in the environment (the worker itself is ``celery -A djangopeer worker``). Each
prints one JSON line; imports nothing from rampwire.

    python django_peer.py setup URL                    # schema, a webhook to URL with a secret
    python django_peer.py queue COUNT                  # COUNT orders created, one webhook each
    python django_peer.py publish SECONDS TASKS MAX_BACKLOG
    python django_peer.py paced RATE SECONDS OUT       # OUT: [[order id, UNIX time], ...]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import threading
import time
import uuid
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangopeer.settings")
import djangopeer

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_webhook.models import (  # noqa: E402
    Webhook,
    WebhookSecret,
    WebhookTopic,
    populate_topics_from_settings,
)
from djangopeer.orders.models import Order  # noqa: E402

DEADLINE_S = 120.0


def data(status: str) -> dict[str, Any]:
    """About 1 KB, as rampwire's order payloads are."""
    return {
        "status": status,
        "side": "buy",
        "fiat": {"currency": "EUR", "amount": "250.00"},
        "crypto": {"asset": "USDT", "network": "POLYGON", "amount": "268.412907"},
        "wallet_address": "0x" + secrets.token_hex(20),
        "exchange_rate": "1.0736516",
        "fees": [
            {"type": "order", "amount": "2.49", "asset": "EUR"},
            {"type": "network", "amount": "0.07", "asset": "EUR"},
        ],
        "references": {
            "partner_order_id": "po_" + secrets.token_hex(8),
            "partner_customer_id": "cus_" + secrets.token_hex(6),
            "user_email": "someone@example.com",
        },
        "metadata": {"campaign": "bench", "channel": "web"},
        "notes": "x" * 400,
    }


def setup(url: str) -> dict[str, Any]:
    call_command("migrate", run_syncdb=True, verbosity=0)
    populate_topics_from_settings()  # its AppConfig.ready() ran before the tables existed
    webhook = Webhook.objects.create(url=url)
    webhook.topics.set(
        WebhookTopic.objects.filter(name__in=["orders.Order/create", "orders.Order/update"])
    )
    WebhookSecret.objects.create(webhook=webhook, token=secrets.token_urlsafe(24))
    return {"ok": True, "topics": webhook.topics.count()}


def create() -> Order:
    return Order.objects.create(
        id="ord_" + uuid.uuid4().hex, status="awaiting_payment", data=data("awaiting_payment")
    )


def threads(count: int, target: Any) -> None:
    workers = [threading.Thread(target=target) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE_S)


def queue(count: int) -> dict[str, Any]:
    lock = threading.Lock()
    left = [count]
    deadline = time.monotonic() + DEADLINE_S

    def loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            create()
        connection.close()

    start = time.perf_counter()
    threads(8, loop)
    return {"rate": count / (time.perf_counter() - start), "left": left[0]}


def publish(seconds: float, tasks: int, max_backlog: int) -> dict[str, Any]:
    """Orders created and saved twice (three webhooks each) as fast as the bound allows; the
    backlog is the Celery queue's length in Redis."""
    redis = djangopeer.celery_app.connection_for_write().default_channel.client
    queue_name = os.environ.get("PEER_QUEUE", "celery")
    events = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + min(seconds, DEADLINE_S)
    cpu = time.process_time()
    start = time.monotonic()

    def loop() -> None:
        made = 0
        while time.monotonic() < deadline:
            if redis.llen(queue_name) >= max_backlog:
                time.sleep(0.01)
                continue
            order = create()
            for status in ("processing", "completed"):
                order.status = status
                order.data = data(status)
                order.save()
            made += 3
        with lock:
            events[0] += made
        connection.close()

    threads(tasks, loop)
    return {
        "events": events[0],
        "elapsed": time.monotonic() - start,
        "cpu": time.process_time() - cpu,
    }


def paced(rate: float, seconds: float, out: str) -> dict[str, Any]:
    """Orders created at ``rate``/s (one webhook each) by 8 threads taking turns on one
    schedule; each order's id (the receiver's key: django-webhook sends no event id) and the
    time its save returned recorded. A thread that finds its turn past counts the pace slipped."""
    lock = threading.Lock()
    stamps: list[tuple[str, float]] = []
    turn = [0]
    behind = [0]
    total = int(rate * min(seconds, DEADLINE_S))
    start = time.monotonic()

    def loop() -> None:
        while True:
            with lock:
                index = turn[0]
                turn[0] += 1
            if index >= total:
                break
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.01:
                with lock:
                    behind[0] += 1
            order = create()
            with lock:
                stamps.append((order.id, time.time()))
        connection.close()

    threads(8, loop)
    with open(out, "w") as file:
        json.dump(stamps, file)
    return {"elapsed": time.monotonic() - start, "behind": behind[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup").add_argument("url")
    commands.add_parser("queue").add_argument("count", type=int)
    publisher = commands.add_parser("publish")
    publisher.add_argument("seconds", type=float)
    publisher.add_argument("tasks", type=int)
    publisher.add_argument("max_backlog", type=int)
    pacer = commands.add_parser("paced")
    pacer.add_argument("rate", type=float)
    pacer.add_argument("seconds", type=float)
    pacer.add_argument("out")
    args = parser.parse_args()
    if args.command == "setup":
        result = setup(args.url)
    elif args.command == "queue":
        result = queue(args.count)
    elif args.command == "paced":
        result = paced(args.rate, args.seconds, args.out)
    else:
        result = publish(args.seconds, args.tasks, args.max_backlog)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
