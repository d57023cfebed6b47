"""Store → UF → national reconciliation: totals add up, every method, no negative values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sincro.forecasting.reconcile import reconcile, summing_structure

STORES = pd.DataFrame({"store": ["sp-1", "sp-2", "rj-1", "mg-1"], "uf": ["SP", "SP", "RJ", "MG"]})


def _incoherent(ids: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2025-03-01", periods=5)
    parts = []
    for uid in ids:
        mean = rng.uniform(0, 30, ds.size) if "/" in uid or uid == "BR" else rng.uniform(0, 8, 5)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "mean": mean, "p90": mean + 3}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("method", ["mint_wls", "mint_ols", "bottom_up"])
def test_every_total_is_the_sum_of_its_parts(method: str) -> None:
    structure = summing_structure(STORES)
    ids = structure[0]["unique_id"].tolist()
    assert ids[0] == "BR" and set(ids[1:4]) == {"BR/SP", "BR/RJ", "BR/MG"}
    base = _incoherent(ids)
    out = reconcile(base, structure, method=method, quantile_cols=["p90"])
    wide = out.pivot(index="ds", columns="unique_id", values="mean")
    before = base.pivot(index="ds", columns="unique_id", values="mean")
    assert not np.allclose(before["BR"], before[["sp-1", "sp-2", "rj-1", "mg-1"]].sum(axis=1))
    assert np.allclose(wide["BR"], wide[["sp-1", "sp-2", "rj-1", "mg-1"]].sum(axis=1))
    assert np.allclose(wide["BR/SP"], wide["sp-1"] + wide["sp-2"])
    assert np.allclose(wide["BR"], wide[["BR/SP", "BR/RJ", "BR/MG"]].sum(axis=1))
    if method == "mint_wls":
        assert (out["mean"] >= -1e-9).all()
    assert (out["p90"] >= out["mean"] - 1e-9).all()
    if method == "bottom_up":
        assert np.allclose(wide["sp-1"], before["sp-1"])


def test_a_missing_node_or_a_store_in_two_ufs_is_refused() -> None:
    structure = summing_structure(STORES)
    base = _incoherent(["BR", "BR/SP", "sp-1"])
    with pytest.raises(ValueError, match="no forecast for node"):
        reconcile(base, structure)
    with pytest.raises(ValueError, match="more than one UF"):
        summing_structure(pd.DataFrame({"store": ["a", "a"], "uf": ["SP", "RJ"]}))


def test_a_uf_without_store_history_is_a_leaf_under_the_nation() -> None:
    bottom = pd.DataFrame({"store": ["sp-1", "sp-2", None], "uf": ["SP", "SP", "MG"]})
    structure = summing_structure(bottom)
    ids = structure[0]["unique_id"].tolist()
    assert ids == ["BR", "BR/SP", "sp-1", "sp-2", "BR/MG"]
    base = _incoherent(ids)
    out = reconcile(base, structure, quantile_cols=["p90"])
    wide = out.pivot(index="ds", columns="unique_id", values="mean")
    assert np.allclose(wide["BR"], wide["sp-1"] + wide["sp-2"] + wide["BR/MG"])
    assert np.allclose(wide["BR/SP"], wide["sp-1"] + wide["sp-2"])
