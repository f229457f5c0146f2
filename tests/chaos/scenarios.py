"""The chaos scenarios of issue 15, against real processes: SIGKILLs under a steady stream of
changes, a PostgreSQL outage and a restart through a proxy, a hanging endpoint beside a healthy
one, and the wait of deliveries a killed ``serve`` held.

Each scenario returns a :class:`Report`: its counts, its figures, and the checks that failed.
``tests/e2e/test_chaos.py`` runs a bounded subset and asserts that no check failed;
``make chaos`` (``python -m tests.chaos.scenarios``) runs them all, longer, and prints a table.
The module lives under ``tests/`` because it is test code: it imports the suite's support
package, and ruff checks it with the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.harness import (
    STREAM_EVENT,
    Sink,
    Stream,
    Tally,
    create_orders,
    delivered,
    deployment,
    latencies,
    percentile,
    poll_ready,
    postgres_database,
    ready_again,
    recovery,
    sink,
    subscribe,
    tally,
)
from tests.support.receivers import raw_server

DELIVER_BOUND_S = 30.0  # acknowledged but not delivered this long after the fault: lost
ORDERS = 16  # the stream's changes go round robin over this many orders


@dataclass
class Report:
    scenario: str
    backend: str
    counts: Tally | None = None
    recovery_s: float | None = None  # from the end of the fault to the last delivery
    figures: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    logs: str = ""

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)


def backend_of(database: str) -> str:
    return "sqlite" if database == "sqlite" else "postgresql"


def seconds(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f} s"


def milliseconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f} ms"


# --- 1. SIGKILL at random moments ----------------------------------------------------------------


async def kills(
    database: str,
    workdir: Path,
    *,
    target: str,
    count: int,
    rate: float = 20.0,
    seed: int = 15,
    horizon_s: float = DELIVER_BOUND_S,
) -> Report:
    """SIGKILL ``serve`` (with its worker) or a ``rampwire worker`` (beside a ``serve`` without
    one) ``count`` times at random moments under the stream; restart it at once each time.
    Events missing at the bound are waited for until ``horizon_s``: late, or lost."""
    report = Report(f"SIGKILL {target} x{count}", backend_of(database), logs=str(workdir))
    pick = random.Random(seed)
    async with (
        deployment(database, workdir, in_process_worker=target == "serve") as running,
        sink() as hooks,
        running.client() as client,
    ):
        await subscribe(client, hooks.url, STREAM_EVENT)
        orders = await create_orders(client, ORDERS)
        async with Stream(client, orders, rate=rate) as stream:
            for _ in range(count):
                await asyncio.sleep(pick.uniform(0.3, 2.0))
                await running.kill(target)
                if target == "serve":
                    await running.start_serve()
                else:
                    await running.start_worker()
            restarted = time.monotonic()
            await asyncio.sleep(1.0)
        acked = stream.acknowledged()
        await delivered(hooks, acked, DELIVER_BOUND_S)
        bounded = tally(acked, hooks)
        if bounded.lost and horizon_s > DELIVER_BOUND_S:
            await delivered(hooks, acked, horizon_s - DELIVER_BOUND_S)
        report.counts = tally(acked, hooks)
        earlier = {event_id: at for event_id, at in acked.items() if at < restarted}
        report.recovery_s = recovery(earlier, hooks, restarted)
        report.figures["unanswered"] = str(stream.statuses()[None])
        late = bounded.lost - report.counts.lost
        if late:
            report.figures["late"] = f"{late} after {DELIVER_BOUND_S:g} s"
        report.check(
            bounded.lost == 0,
            f"{bounded.lost} acknowledged events not delivered within {DELIVER_BOUND_S:g} s",
        )
        report.check(stream.statuses()[500] == 0, "the API answered 500")
    return report


# --- 2 and 3. PostgreSQL outage and restart through the proxy ------------------------------------


async def outage(
    database: str,
    workdir: Path,
    *,
    down_s: float,
    in_process_worker: bool,
    rate: float = 20.0,
    phase_s: float = 3.0,
) -> Report:
    """Every PostgreSQL connection cut and new ones refused for ``down_s`` (a 10 s outage, or a
    restart at about 1 s), under the stream; then PostgreSQL is back."""
    name = "PostgreSQL outage" if down_s >= 5 else "PostgreSQL restart"
    topology = "serve" if in_process_worker else "serve + worker"
    report = Report(f"{name} {down_s:g} s ({topology})", "postgresql", logs=str(workdir))
    async with (
        deployment(database, workdir, in_process_worker=in_process_worker) as running,
        sink() as hooks,
        running.client() as client,
    ):
        proxy = running.proxy
        assert proxy is not None
        await subscribe(client, hooks.url, STREAM_EVENT)
        orders = await create_orders(client, ORDERS)
        readiness: Counter[int | None] = Counter()
        async with Stream(client, orders, rate=rate) as stream:
            stream.phase = "before"
            await asyncio.sleep(phase_s)
            stream.phase = "down"
            stop_polling = asyncio.Event()
            poller = asyncio.create_task(poll_ready(running.url, readiness, stop_polling))
            proxy.refuse()  # first: a client that reconnects between the two would stay up
            proxy.cut()
            await asyncio.sleep(down_s)
            stop_polling.set()
            await poller
            proxy.restore()
            restored = time.monotonic()
            stream.phase = "recovering"
            ready = await ready_again(running.url, DELIVER_BOUND_S)
            done = await delivered(hooks, stream.acknowledged(), DELIVER_BOUND_S)
            stream.phase = "after"
            await asyncio.sleep(phase_s)
        bound = DELIVER_BOUND_S if done is not None else 0.0  # already failed: no second wait
        after_done = await delivered(hooks, stream.acknowledged("after"), bound)
        acked = stream.acknowledged()
        report.counts = tally(acked, hooks)
        earlier = stream.acknowledged("before", "down")
        report.recovery_s = recovery(earlier, hooks, restored) if not report.counts.lost else None
        before = percentile(latencies(stream.acknowledged("before"), hooks), 0.5)
        after = percentile(latencies(stream.acknowledged("after"), hooks), 0.5)
        down = stream.statuses("down")
        exits = running.exit_codes()
        report.figures = {
            "p50 before": milliseconds(before),
            "p50 after": milliseconds(after),
            "ready again": seconds(None if ready is None else ready - restored),
            "answers while down": render(down),
            "answers after": render(stream.statuses("recovering", "after")),
            "/readyz while down": render(readiness),
            "exit codes": ", ".join(
                f"{k} {'running' if v is None else v}" for k, v in exits.items()
            ),
        }
        report.check(report.counts.lost == 0, f"{report.counts.lost} acknowledged events lost")
        report.check(after_done is not None, "events acknowledged after recovery not delivered")
        statuses = stream.statuses()
        report.check(statuses[500] == 0, f"the API answered 500 {statuses[500]} times")
        report.check(down[503] > 0, "no 503 while the database was down")
        report.check(
            all(s.retry_after for s in stream.sent if s.status == 503), "a 503 without Retry-After"
        )
        report.check(readiness[200] == 0 and readiness[503] > 0, "/readyz not 503 while down")
        report.check(ready is not None, "/readyz not 200 again after the outage")
        report.check(all(v is None for v in exits.values()), f"a process exited: {exits}")
        # Loose on purpose (a loaded 2-core machine); a lost LISTEN shows as the poll interval.
        report.check(after < 5 * before + 0.05, f"p50 after {after:.3f} s vs before {before:.3f} s")
    return report


def render(seen: Counter[int | None]) -> str:
    return " ".join(f"{'none' if k is None else k}:{n}" for k, n in sorted(seen.items(), key=str))


# --- 4. a hanging endpoint with a backlog beside a healthy one -----------------------------------


async def hanging(
    database: str,
    workdir: Path,
    *,
    backlog: int = 2000,
    rate: float = 20.0,
    phase_s: float = 4.0,
    bound_s: float = 60.0,
) -> Report:
    """A healthy endpoint's delivery latency, unloaded and then while another endpoint of the
    same worker accepts connections and never answers, with ``backlog`` deliveries for it."""
    report = Report(f"hanging endpoint, backlog {backlog}", backend_of(database), logs=str(workdir))

    ended = asyncio.Event()

    async def hang(_: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        await ended.wait()  # never answers; returns at the end rather than being cancelled

    async with (
        deployment(database, workdir) as running,
        sink() as hooks,
        raw_server(hang) as stuck,
        running.client() as client,
    ):
        orders = await create_orders(client, ORDERS)
        await subscribe(client, hooks.url, STREAM_EVENT)
        await subscribe(client, stuck.url, "order.created")
        async with Stream(client, orders, rate=rate) as before:
            await asyncio.sleep(phase_s)
        filling = time.monotonic()  # the stream waits: the backlog is made as fast as it can be
        await create_orders(client, backlog, concurrency=16)
        filled = time.monotonic() - filling
        async with Stream(client, orders, rate=rate) as beside:
            await asyncio.sleep(phase_s)
        acked = before.acknowledged() | beside.acknowledged()
        done = await delivered(hooks, acked, bound_s)
        report.counts = tally(acked, hooks)
        unloaded = latencies(before.acknowledged(), hooks)
        loaded = latencies(beside.acknowledged(), hooks)
        late = len(beside.acknowledged()) - len(loaded)
        report.figures = {
            "healthy p50/p99 unloaded": f"{milliseconds(percentile(unloaded, 0.5))}"
            f" / {milliseconds(percentile(unloaded, 0.99))}",
            "healthy p50/p99 beside the hanging one": f"{milliseconds(percentile(loaded, 0.5))}"
            f" / {milliseconds(percentile(loaded, 0.99))}",
            "backlog made in": seconds(filled),
            "not delivered": str(late),
            "connections to the hanging endpoint": str(stuck.connections),
        }
        ended.set()
        report.check(done is not None, f"healthy events not delivered within {bound_s:g} s")
        report.check(percentile(loaded, 0.99) < 5.0, "healthy p99 beside a hanging one >= 5 s")
    return report


# --- 5. deliveries held by a killed serve --------------------------------------------------------


async def held_by_the_dead(
    database: str, workdir: Path, *, held: int = 20, bound_s: float = 25.0
) -> Report:
    """SIGKILL ``serve`` while its sends to a slow endpoint are in flight; restart it; how long
    those deliveries wait, from the kill to their next arrival (their lease)."""
    report = Report(f"SIGKILL serve holding {held}", backend_of(database), logs=str(workdir))
    async with (
        deployment(database, workdir) as running,
        sink() as hooks,
        running.client() as client,
    ):
        await subscribe(client, hooks.url, STREAM_EVENT)
        orders = await create_orders(client, held)
        hooks.holding = True
        ids = []
        for order_id in orders:
            response = await client.post(
                f"/v1/orders/{order_id}/changes", json={"set": {"metadata": {"held": "1"}}}
            )
            response.raise_for_status()
            ids.append(response.json()["event"]["id"])
        await delivered(hooks, ids, DELIVER_BOUND_S)  # every send is in flight
        await running.kill("serve")
        killed = time.monotonic()
        hooks.holding = False
        hooks.released.set()
        await running.start_serve()
        again = await again_after(hooks, ids, killed, bound_s=bound_s)
        waits = sorted(t - killed for t in again.values())
        report.counts = Tally(len(ids), len(again), len(ids) - len(again), hooks.duplicates(), 0)
        report.recovery_s = waits[-1] if len(waits) == len(ids) else None
        report.figures = {
            "wait p50": seconds(percentile(waits, 0.5)),
            "max": seconds(max(waits, default=math.nan)),
        }
        missing = len(ids) - len(again)
        report.check(missing == 0, f"{missing} not sent again within {bound_s:g} s")
        report.check(all(w < 20.0 for w in waits), "a held delivery waited 20 s or more")
    return report


async def again_after(
    hooks: Sink, ids: list[str], since: float, *, bound_s: float
) -> dict[str, float]:
    """For each id, its first arrival after ``since``: those that came within ``bound_s``."""
    deadline = time.monotonic() + bound_s
    while True:
        found = {}
        for event_id in ids:
            later = [t for t in hooks.arrivals.get(event_id, []) if t > since]
            if later:
                found[event_id] = later[0]
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


# --- the full run --------------------------------------------------------------------------------

Scenario = Callable[[str, Path], Awaitable[Report]]

FULL: list[tuple[str, Scenario]] = [
    ("sqlite", lambda db, wd: kills(db, wd, target="serve", count=8, horizon_s=90)),
    ("postgresql", lambda db, wd: kills(db, wd, target="serve", count=8, horizon_s=90)),
    ("postgresql", lambda db, wd: kills(db, wd, target="worker", count=8, horizon_s=90)),
    ("postgresql", lambda db, wd: outage(db, wd, down_s=10, in_process_worker=False)),
    ("postgresql", lambda db, wd: outage(db, wd, down_s=10, in_process_worker=True)),
    ("postgresql", lambda db, wd: outage(db, wd, down_s=1, in_process_worker=False)),
    ("postgresql", lambda db, wd: outage(db, wd, down_s=1, in_process_worker=True)),
    ("postgresql", lambda db, wd: hanging(db, wd, bound_s=90)),
    ("sqlite", lambda db, wd: held_by_the_dead(db, wd, bound_s=90)),
    ("postgresql", lambda db, wd: held_by_the_dead(db, wd, bound_s=90)),
]


@asynccontextmanager
async def database_for(backend: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield "sqlite"
        return
    async with postgres_database() as url:
        yield url


async def run_all(workdir: Path) -> list[Report]:
    reports = []
    for n, (backend, scenario) in enumerate(FULL):
        async with database_for(backend) as database:
            try:
                report = await scenario(database, workdir / f"scenario-{n}")
            except Exception as exc:  # one scenario's crash must not hide the others
                report = Report(f"scenario {n}", backend, failures=[f"crashed: {exc!r}"])
        print(row(report), flush=True)
        reports.append(report)
    return reports


HEADER = "| scenario | back-end | acked | delivered | lost | dup | unacked | recovery | figures |"


def row(report: Report) -> str:
    c = report.counts
    counts = (
        ["-"] * 5
        if c is None
        else [str(v) for v in (c.acknowledged, c.delivered, c.lost, c.duplicates, c.unacknowledged)]
    )
    figures = "; ".join(f"{k} {v}" for k, v in report.figures.items())
    if report.failures:
        figures += " **FAILED: " + "; ".join(report.failures) + "**"
    cells = [report.scenario, report.backend, *counts, seconds(report.recovery_s), figures]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rampwire-chaos-"))
    print(HEADER)
    print("|" + "---|" * 9, flush=True)
    reports = asyncio.run(run_all(workdir))
    failed = [r for r in reports if r.failures]
    print(f"\n{len(reports) - len(failed)} of {len(reports)} scenarios passed; logs in {workdir}")
    if not args.keep and not failed:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
