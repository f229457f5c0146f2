"""The status tables of docs/dialects.md, generated from the code.

``python -m tests.unit.dialects.doc_tables`` prints them; ``test_dialects`` checks that the
document contains every row, so the tables cannot drift from the code.
"""

from __future__ import annotations

from rampwire.dialects import DIALECTS, DialectName, fireblocks
from rampwire.domain.orders import OrderStatus, Provider, Side

from .strategies import plain_order
from .support import expected_status

OUTBOUND_HEADER = "| canonical | on-ramp (buy) | off-ramp (sell) |\n|---|---|---|"
INBOUND_HEADER = "| provider event | canonical |\n|---|---|"


def _cell(name: DialectName, status: OrderStatus, side: Side) -> str:
    dialect = DIALECTS[name]
    if side not in dialect.sides:
        return "—"
    event = dialect.to_provider(status, side)
    cell = f"`{event}`"
    if name is DialectName.FIREBLOCKS and status in fireblocks._REASON_SENT:
        cell += f" + failure `{fireblocks._REASON_SENT[status]}`"
    provider = None if dialect.provider is None else Provider(dialect.provider)
    back = expected_status(name, plain_order(side, status, provider), status)
    if back is not status:
        cell += f" → `{back.value if back else 'none'}`"
    return cell


def outbound_rows(name: DialectName) -> list[str]:
    return [
        f"| `{status.value}` | {_cell(name, status, Side.BUY)} | {_cell(name, status, Side.SELL)} |"
        for status in OrderStatus
    ]


def inbound_rows(name: DialectName) -> list[str]:
    dialect = DIALECTS[name]
    seen: dict[str, str] = {}
    for side in (Side.BUY, Side.SELL):
        if side not in dialect.sides:
            continue
        for event in dialect.provider_events(side):
            status = dialect.from_provider(event, side)
            seen.setdefault(str(event), f"`{status.value}`" if status else "none")
    if name is DialectName.FIREBLOCKS:
        for reason, status in fireblocks.FAILURE_STATUS.items():
            seen[f"order.updated/FAILED` + failure `{reason}"] = f"`{status.value}`"
    return [f"| `{event}` | {status} |" for event, status in seen.items()]


def markdown(name: DialectName) -> str:
    return "\n".join(
        [OUTBOUND_HEADER, *outbound_rows(name), "", INBOUND_HEADER, *inbound_rows(name)]
    )


if __name__ == "__main__":  # pragma: no cover
    for dialect_name in DialectName:
        print(f"### {dialect_name.value}\n\n{markdown(dialect_name)}\n")
