"""Django settings for the peer: PostgreSQL with persistent connections (Django's advice for
throughput), django-webhook on the ``Order`` model, Celery on Redis with its defaults (prefork,
one process per core). The driver passes the database and the queue in the environment."""

import os
import warnings
from urllib.parse import urlsplit

# django-webhook's AppConfig.ready() reads its tables; Django warns about that at every start
warnings.filterwarnings("ignore", "Accessing the database during app initialization")

_dsn = urlsplit(os.environ["PEER_DSN"])

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = ["django.contrib.contenttypes", "django_webhook", "djangopeer.orders"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _dsn.path.lstrip("/"),
        "USER": _dsn.username or "postgres",
        "HOST": _dsn.hostname or "127.0.0.1",
        "PORT": str(_dsn.port or 5432),
        "CONN_MAX_AGE": None,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DJANGO_WEBHOOK = {"MODELS": ["orders.Order"]}

CELERY_BROKER_URL = os.environ.get("PEER_REDIS", "redis://127.0.0.1:6379/0")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PEER_QUEUE", "celery")  # one per run: Redis is shared
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
