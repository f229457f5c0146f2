"""Paired A/B comparisons: one off/on pair per round, which goes first alternating, and what
the rounds say together (median, mean with a 95 % interval, the order effect).

The machine's other load drifts, and a database grows over a run; a pair taken close together
shares most of that, so each round's ratio is the unit. Alternation cancels a drift that
favours whichever goes second only over an even number of rounds: :func:`even` rounds up. The
order effect (second vs first of each pair, whatever the variant) shows how much position
alone moves a figure: when it is as large as the cost, the cost is not resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, median, stdev

# Student's t, two-sided 95 %, by degrees of freedom (more than 30: 2.0)
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
T95 |= {10: 2.23, 12: 2.18, 15: 2.13, 20: 2.09, 25: 2.06, 30: 2.04}


def even(rounds: int) -> int:
    """Rounds rounded up to an even number: as many pairs with each variant first."""
    return rounds + rounds % 2


def first(round_: int, names: tuple[str, str]) -> tuple[str, str]:
    """The order of a round's pair: as given in even rounds, reversed in odd ones."""
    return names if round_ % 2 == 0 else (names[1], names[0])


def t95(dof: int) -> float:
    known = [d for d in T95 if d <= dof]
    return T95[max(known)] if dof <= 30 and known else 2.0


@dataclass(frozen=True)
class Paired:
    """Costs in % per round (positive: the second variant is worse)."""

    costs: list[float]
    order: list[float]  # per round: the second of the pair against the first, in %

    @classmethod
    def of(
        cls,
        off: list[float],
        on: list[float],
        *,
        higher_is_worse: bool,
        off_first: list[bool] | None = None,
    ) -> Paired:
        """``off``/``on``: per round figures; a rate (``higher_is_worse=False``) costs
        1 - on/off, a CPU figure on/off - 1. Round r ran off first when ``off_first[r]``
        (by default: when r is even)."""
        costs, order = [], []
        for round_, (a, b) in enumerate(zip(off, on, strict=True)):
            if not a or not b:
                continue
            costs.append((1 - b / a) * 100 if not higher_is_worse else (b / a - 1) * 100)
            began_off = round_ % 2 == 0 if off_first is None else off_first[round_]
            second, then = (b, a) if began_off else (a, b)
            order.append((second / then - 1) * 100 * (1 if higher_is_worse else -1))
        return cls(costs, order)

    @property
    def median(self) -> float:
        return median(self.costs) if self.costs else 0.0

    @property
    def mean(self) -> float:
        return mean(self.costs) if self.costs else 0.0

    @property
    def half_width(self) -> float:
        """Half the 95 % interval of the mean cost (t over the rounds); inf with one round."""
        if len(self.costs) < 2:
            return math.inf
        return t95(len(self.costs) - 1) * stdev(self.costs) / math.sqrt(len(self.costs))

    def note(self) -> str:
        rounds = ", ".join(f"{c:+.1f}" for c in self.costs)
        order = median(self.order) if self.order else 0.0
        return (
            f"median of {len(self.costs)} rounds; mean {self.mean:+.1f} ± {self.half_width:.1f}"
            f" (95 %); rounds {rounds}; order effect (second vs first, median) {order:+.1f}"
        )

    def verdict(self, target_pct: float) -> str:
        """MET when the whole interval is under the target, NOT MET when it is all above,
        else NOT RESOLVED (the rounds' spread is wider than the distance to the target)."""
        low, high = self.mean - self.half_width, self.mean + self.half_width
        if high <= target_pct:
            return "MET"
        if low > target_pct:
            return "NOT MET"
        return "NOT RESOLVED"


__all__ = ["Paired", "even", "first"]
