"""Python calls per request by layer, from a cProfile file of ``ingest_app.py --profile``.

    cd bench && ../.venv/bin/python ingest_layers.py PATH REQUESTS

A function's calls count in the layer of its file; a C function's calls count in the layer of
the function that called it. Load-independent, as the call counts are.
"""

from __future__ import annotations

import argparse
import collections
import pstats

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ASGI stack and request context",
        (
            "fastapi/",
            "starlette/",
            "api/context.py",
            "api/limits.py",
            "rampwire/logs.py",
            "contextlib.py",
            "tracing/",
        ),
    ),
    (
        "ingest route",
        ("api/ingest.py", "api/bodies.py", "api/state.py", "api/sources.py", "api/problems.py"),
    ),
    ("ingestor, source cache, metrics", ("services/ingestor.py", "rampwire/cache.py", "metrics/")),
    (
        "dialects",
        (
            "dialects/",
            "json/",
            "base64.py",
            "hmac.py",
            "/re/",
            "serde.py:load_patch",
            "rampwire/types.py",
            "domain/money.py",
            "domain/currencies.py",
        ),
    ),
    (
        "inbound log and group commit",
        ("repository/inbound", "ingest/inbound.py", "repository/batching.py", "rampwire/ids.py"),
    ),
    ("fold and orders", ("repository/provider_orders.py", "repository/order", "domain/")),
    ("outbox", ("repository/outbox.py",)),
    ("storage and asyncpg", ("storage/", "asyncpg/", "<frozen abc>")),
    ("enum", ("/enum.py",)),
    ("the bench", ("bench/",)),
)


def layer(path: str, name: str) -> str:
    key = f"{path}:{name}"
    for label, patterns in LAYERS:
        if any(pattern in key for pattern in patterns):
            return label
    return "other: " + path.rsplit("/", 1)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the cProfile file")
    parser.add_argument("requests", type=int, help="requests profiled")
    args = parser.parse_args()
    calls: collections.Counter[str] = collections.Counter()
    stats = pstats.Stats(args.path).stats  # type: ignore[attr-defined]
    for (path, _, name), (_, count, _, _, callers) in stats.items():
        if path == "~":  # a C function: its callers' layers
            for (caller, _, caller_name), counts in callers.items():
                calls[layer(caller, caller_name)] += counts[0] / args.requests
        else:
            calls[layer(path, name)] += count / args.requests
    for label, count in calls.most_common():
        if count >= 0.5:
            print(f"{count:7.1f}  {label}")
    print(f"{sum(calls.values()):7.1f}  in all")


if __name__ == "__main__":
    main()
