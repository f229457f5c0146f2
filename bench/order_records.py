"""Instructions per call of the publishers' record work on one order, by valgrind's callgrind:
reading a stored body back (pydantic's ``validate_json``), the check that lets a body this
process wrote read back as its record (two parses and a comparison), ``Order.evolve``, and an
API create's response (``serde.dump`` against parsing the order's JSON made once).

    cd bench && ../.venv/bin/python order_records.py [--calls 2000]

Each figure is (instructions of a process making ``--calls`` calls - of one making none) /
``--calls``, the order being ``harness.workload.order_data``'s (about 1 KB of JSON). Put a
``git archive``'s ``src`` first on ``PYTHONPATH`` to count another tree.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CALLS = {"read back": "read", "same JSON": "proof", "evolve": "evolve", "dump": "dump"}
CALLS["parse its JSON"] = "parsed"


def calls() -> dict[str, Callable[[], Any]]:
    from harness.workload import order_data

    from rampwire.domain import serde
    from rampwire.domain.orders import DATA_FIELDS, Order, OrderStatus
    from rampwire.types import utcnow

    data, now = order_data(), utcnow()
    order = Order(
        **{name: getattr(data, name) for name in DATA_FIELDS},
        id="ord_bench",
        status=OrderStatus.AWAITING_PAYMENT,
        version=1,
        created_at=now,
        updated_at=now,
    )
    raw = serde.order_to_json(order)
    stored = raw.decode().replace('","', '", "')  # another text of the same JSON, as jsonb's
    return {
        "read": lambda: serde.order_from_json(stored),
        "proof": lambda: serde.from_json(stored) == serde.from_json(raw),
        "evolve": lambda: order.evolve(version=2, status=OrderStatus.PROCESSING, updated_at=now),
        "dump": lambda: serde.dump(order),
        "parsed": lambda: serde.from_json(serde.order_to_json(order)),
    }


def counted(what: str, n: int) -> int:
    with tempfile.TemporaryDirectory(prefix="order-records-") as folder:
        out = Path(folder) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--role", what, "--calls", str(n)]
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        found = re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.M)
        assert found is not None
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is not None:
        call = calls()[args.role]
        call()  # warm: adapters built, memo filled
        for _ in range(args.calls):
            call()
        return
    for name, what in CALLS.items():
        per = (counted(what, args.calls) - counted(what, 0)) / args.calls
        print(f"{name:<15} {per:>10,.0f} instructions per call", flush=True)


if __name__ == "__main__":
    main()
