"""Coherent forecasts across the location hierarchy (store → UF → national).

:func:`summing_structure` builds the summing matrix from the bottom level (stores with their
UF); :func:`reconcile` adjusts every node's point forecast with ``hierarchicalforecast`` so
that each UF is the sum of its stores and the nation the sum of its UFs:

- ``mint_wls`` (default): MinTrace with structural weights (no in-sample errors needed),
  non-negative (a quadratic programme keeps every reconciled value >= 0);
- ``mint_ols``: MinTrace OLS; ``bottom_up``: the stores' forecasts summed.

Quantile columns are moved by the same adjustment as the point forecast of their node. They
are not themselves additive (a sum of P90s is not the P90 of the sum); the total's quantiles
come from the total's own forecast, shifted to agree with the reconciled mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

NATIONAL = "BR"


def summing_structure(
    bottom: pd.DataFrame, *, store_col: str = "store", uf_col: str = "uf"
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``S`` (one row a node: ``BR``, each ``BR/<uf>`` made of stores, then the bottom nodes;
    one column a bottom node) and the tags (level name → node ids).

    ``bottom`` lists the stores with their UF; a row whose store is empty (None/NaN) makes
    that UF itself a bottom node: a UF whose history is not (only) the sum of stores, such as
    a SKU whose sales there are kept per UF, joins as a leaf under the nation."""
    pairs = bottom[[store_col, uf_col]].drop_duplicates()
    leaf_ufs = sorted(pairs.loc[pairs[store_col].isna(), uf_col].astype(str).unique())
    pairs = pairs[pairs[store_col].notna()].astype(str)
    if pairs[store_col].duplicated().any():
        store = pairs.loc[pairs[store_col].duplicated(), store_col].iloc[0]
        raise ValueError(f"store {store!r} belongs to more than one UF")
    both = sorted(set(leaf_ufs) & set(pairs[uf_col]))
    if both:
        raise ValueError(f"UF {both[0]!r} is both a leaf and made of stores")
    pairs = pairs.sort_values([uf_col, store_col])
    stores = pairs[store_col].tolist()
    ufs = sorted(pairs[uf_col].unique())
    leaves = [*stores, *(f"{NATIONAL}/{uf}" for uf in leaf_ufs)]
    store_uf = pairs[uf_col].to_numpy()
    rows = [np.ones(len(leaves))]
    for uf in ufs:
        rows.append(np.r_[(store_uf == uf).astype(float), np.zeros(len(leaf_ufs))])
    rows += list(np.eye(len(leaves)))
    ids = [NATIONAL, *(f"{NATIONAL}/{uf}" for uf in ufs), *leaves]
    matrix = pd.DataFrame(np.vstack(rows), columns=leaves)
    matrix.insert(0, "unique_id", ids)
    tags = {
        "national": np.array([NATIONAL]),
        "uf": np.array([f"{NATIONAL}/{uf}" for uf in sorted([*ufs, *leaf_ufs])]),
        "store": np.array(stores),
    }
    return matrix, tags


def reconcile(
    forecasts: pd.DataFrame,
    structure: tuple[pd.DataFrame, dict[str, np.ndarray]],
    *,
    method: str = "mint_wls",
    point_col: str = "mean",
    quantile_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """``forecasts`` (``unique_id, ds, point_col, quantile_cols…`` for every node of the
    structure) with ``point_col`` reconciled and the quantile columns shifted alongside."""
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    matrix, tags = structure
    reconciler = {
        "mint_wls": lambda: MinTrace(method="wls_struct", nonnegative=True),
        "mint_ols": lambda: MinTrace(method="ols"),
        "bottom_up": BottomUp,
    }.get(method)
    if reconciler is None:
        raise ValueError(f"unknown reconciliation method {method!r}")
    nodes = set(matrix["unique_id"])
    missing = nodes - set(forecasts["unique_id"].astype(str))
    if missing:
        raise ValueError(f"no forecast for node(s): {', '.join(sorted(missing)[:5])}")
    base = forecasts[forecasts["unique_id"].astype(str).isin(nodes)].copy()
    base["unique_id"] = base["unique_id"].astype(str)
    hat = base[["unique_id", "ds", point_col]].rename(columns={point_col: "base"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # qpsolvers: "converted matrix to csc" (performance)
        out = HierarchicalReconciliation(reconcilers=[reconciler()]).reconcile(
            Y_hat_df=hat, S_df=matrix, tags=tags
        )
    column = next(c for c in out.columns if c.startswith("base/"))
    merged = base.merge(
        out[["unique_id", "ds", column]], on=["unique_id", "ds"], how="left", validate="1:1"
    )
    shift = merged[column] - merged[point_col]
    merged[point_col] = merged[column]
    for q in quantile_cols:
        merged[q] = (merged[q] + shift).clip(lower=0.0)
    return merged.drop(columns=[column])
