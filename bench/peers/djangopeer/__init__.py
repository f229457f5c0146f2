"""The django-webhook peer's Django project: an ``Order`` model whose creates and saves fire
webhooks through django-webhook on Celery (Redis broker, prefork workers), as its README sets it
up. Loaded only in the peer's own virtualenv (``venvs.DJANGO_WEBHOOK``)."""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
