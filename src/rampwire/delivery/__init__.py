"""The delivery engine: endpoints' deliveries, sent, retried and logged."""
