"""The Celery app, as Celery's "First steps with Django" page writes it."""

import os
import sys

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangopeer.settings")

app = Celery("djangopeer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def announce(**_: object) -> None:
    """Tells the benchmark the worker is up without logging every task at INFO."""
    print("WORKER READY", file=sys.stderr, flush=True)
