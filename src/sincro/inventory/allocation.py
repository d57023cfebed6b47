"""Choosing where to take stock from for a reservation with no location.

Pure functions over plain numbers so they can be property-tested. The plan prefers, in order:
one location that covers every line (the nearest such); otherwise the fewest locations, chosen
greedily by most units covered with ties broken by distance. Greedy set cover is not always
minimal, but it is within a logarithmic factor and predictable; orders have few lines.
"""

from __future__ import annotations

from collections.abc import Mapping

Plan = dict[int, list[tuple[int, int]]]  # product_id -> [(location_id, qty)]


def plan_allocation(
    needs: Mapping[int, int],
    stock: Mapping[int, Mapping[int, int]],
    rank: Mapping[int, float],
) -> tuple[Plan, dict[int, int]]:
    """Split ``needs`` (product -> units) over ``stock`` (location -> product -> available).

    ``rank`` orders locations (smaller is preferred: distance in km, or a channel preference).
    Returns the plan and the shortfall per product (empty when everything is covered).
    """
    by_rank = sorted(stock, key=lambda loc: (rank.get(loc, float("inf")), loc))
    for loc in by_rank:
        if all(stock[loc].get(p, 0) >= q for p, q in needs.items()):
            return {p: [(loc, q)] for p, q in needs.items()}, {}

    remaining = {p: q for p, q in needs.items() if q > 0}
    left = {loc: dict(stock[loc]) for loc in by_rank}
    plan: Plan = {p: [] for p in needs}
    while remaining:
        best, best_cover = None, 0
        for loc in by_rank:
            cover = sum(min(left[loc].get(p, 0), q) for p, q in remaining.items())
            if cover > best_cover:
                best, best_cover = loc, cover
        if best is None:
            break
        for p in list(remaining):
            take = min(left[best].get(p, 0), remaining[p])
            if take > 0:
                plan[p].append((best, take))
                left[best][p] -= take
                remaining[p] -= take
                if remaining[p] == 0:
                    del remaining[p]
    return plan, remaining
