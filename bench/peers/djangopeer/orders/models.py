"""An order as a Django team would model it; django-webhook fires on its creates and saves."""

from django.db import models


class Order(models.Model):
    id = models.CharField(primary_key=True, max_length=40)
    status = models.CharField(max_length=40)
    data = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
