from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "djangopeer.orders"
    label = "orders"
