"""The delivery engine's pure parts: endpoints and their rules, the sender (prepare, send,
conclude), retry policies, per-endpoint limits and the fair scheduler. No SQL: the worker that
claims and records is :mod:`rampwire.services.worker`."""
