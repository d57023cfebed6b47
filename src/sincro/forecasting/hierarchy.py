"""Hierarchical runs: one run forecasts its SKUs at store, UF and national level and makes
them add up (store → UF → national), with :mod:`sincro.forecasting.reconcile`.

A run started with ``hierarchy`` (level ``location``) forecasts every series of its SKUs at
the three levels in the same chunk. Its location series keep their codes as keys; the other
levels are stored under ``uf:<UF>`` and ``total:total`` (:func:`stored_key`), so a location
code can never collide with a UF. Promotion serves the run for all three levels.

Per SKU the summing structure follows its history:

- a UF whose daily history is exactly the sum of its locations' (store-level history) has
  those locations as leaves: the stored store forecasts add up to the UF's;
- a UF whose history is not only its stores' (sales kept per UF, as the demo's long tail and
  an operator's BI keep them) is itself a leaf under the nation; its location series, if
  any, are still forecast but cannot be reconciled against it and are flagged
  ``unreconciled``;
- the national total is the sum of the UFs.

What is reconciled (MinTrace with structural weights, non-negative, by hierarchicalforecast):
the mean, and the P50 separately, so both the stored means and the stored P50s add up. The
other quantiles move with their node's P50 (same shift, clipped at zero, kept ordered): a P90
is not additive — the P90 of a total is not the sum of its parts' P90s — so each node keeps
the spread its own backtest calibrated. Reconciliation is skipped (nothing to make coherent)
for a SKU with a single node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sincro.forecasting import reconcile as R

PRIMARY = "location"
LEVELS: tuple[str, ...] = ("location", "uf", "total")
SEP = "|"
UNRECONCILED = "unreconciled"


def stored_key(run_level: str, level: str, key: str) -> str:
    """The key a series of ``level`` is stored under in a run of ``run_level``."""
    return key if level == run_level else f"{level}:{key}"


def level_of(stored: str, run_level: str) -> tuple[str, str]:
    """``(level, key)`` of a stored key (the inverse of :func:`stored_key`)."""
    level, sep, key = stored.partition(":")
    if sep and level in LEVELS and level != run_level:
        return level, key
    return run_level, stored


def reconcile_forecasts(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    state_of: Mapping[str, str],
    levels: Sequence[int],
    method: str = "mint_wls",
) -> tuple[pd.DataFrame, set[str]]:
    """Make a hierarchical chunk's forecasts coherent, SKU by SKU.

    ``forecasts``: the engine's (``unique_id = sku|stored key``, ``ds``, ``mean``,
    ``p<level>``); ``history``: the chunk's dense demand frame (same ids, ``ds``, ``y``);
    ``state_of``: location code → UF. Returns the forecasts (reconciled where a SKU has more
    than one node) and the ids flagged ``unreconciled``."""
    quantiles = [f"p{level}" for level in levels]
    has_median = 50 in levels
    out, flagged = [], set()
    ids = forecasts["unique_id"].astype(str)
    skus = ids.str.partition(SEP)[0]
    hist_ids = history["unique_id"].astype(str)
    hist_skus = hist_ids.str.partition(SEP)[0]
    for sku, part in forecasts.groupby(skus, sort=True):
        past = history[hist_skus == sku]
        nodes, leaves_of, node_of = _structure(str(sku), part, past, state_of)
        flagged |= leaves_of
        if len(nodes) < 2:
            out.append(part)
            continue
        structure = R.summing_structure(nodes)
        renamed = part.assign(unique_id=part["unique_id"].astype(str).map(node_of))
        inside = renamed[renamed["unique_id"].notna()]
        others = part[renamed["unique_id"].isna()]
        if has_median:
            done = R.reconcile(inside, structure, method=method, point_col="mean")
            done = R.reconcile(
                done,
                structure,
                method=method,
                point_col="p50",
                quantile_cols=[q for q in quantiles if q != "p50"],
            )
        else:
            done = R.reconcile(inside, structure, method=method, quantile_cols=quantiles)
        if quantiles:
            ordered = np.maximum.accumulate(done[quantiles].clip(lower=0.0).to_numpy(), axis=1)
            done[quantiles] = ordered
        back = {v: k for k, v in node_of.items()}
        done["unique_id"] = done["unique_id"].map(back)
        out.append(pd.concat([done[part.columns], others], ignore_index=True))
    merged = pd.concat(out, ignore_index=True) if out else forecasts
    return merged, flagged


def _structure(
    sku: str, part: pd.DataFrame, past: pd.DataFrame, state_of: Mapping[str, str]
) -> tuple[pd.DataFrame, set[str], dict[str, str]]:
    """The leaves of one SKU's hierarchy (``store, uf`` rows; ``store`` None for a UF that
    is a leaf), the location ids left out (``unreconciled``) and each id's node name."""
    node_of: dict[str, str] = {}
    stores: dict[str, list[str]] = {}
    ufs: list[str] = []
    for uid in part["unique_id"].astype(str).unique():
        level, key = level_of(uid.partition(SEP)[2], PRIMARY)
        if level == "total":
            node_of[uid] = R.NATIONAL
        elif level == "uf":
            node_of[uid] = f"{R.NATIONAL}/{key}"
            ufs.append(key)
        elif key in state_of:
            stores.setdefault(state_of[key], []).append(uid)
    if R.NATIONAL not in node_of.values():
        return pd.DataFrame(columns=["store", "uf"]), set(), {}
    by_id = {uid: g.set_index("ds")["y"] for uid, g in past.groupby("unique_id", sort=False)}
    rows: list[dict[str, str | None]] = []
    left_out: set[str] = set()
    for uf in sorted(ufs):
        members = stores.pop(uf, [])
        uf_id = next(u for u, n in node_of.items() if n == f"{R.NATIONAL}/{uf}")
        if members and _adds_up(by_id, uf_id, members):
            for uid in members:  # the id itself: never "BR" nor "BR/…"
                node_of[uid] = uid
                rows.append({"store": uid, "uf": uf})
        else:
            left_out |= set(members)
            rows.append({"store": None, "uf": uf})
    for members in stores.values():  # locations of a UF with no UF series (cannot happen)
        left_out |= set(members)
    return pd.DataFrame(rows, columns=["store", "uf"]), left_out, node_of


def _adds_up(by_id: Mapping[str, pd.Series], uf_id: str, members: Sequence[str]) -> bool:
    """Whether the UF's daily history is the sum of its locations' histories."""
    total = by_id.get(uf_id)
    if total is None:
        return False
    summed = sum(by_id[m].reindex(total.index, fill_value=0.0) for m in members if m in by_id)
    return bool(np.allclose(np.asarray(summed, dtype=float), total.to_numpy(dtype=float)))
