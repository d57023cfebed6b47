"""Demand pattern of a series: Syntetos–Boylan classification by ADI and CV².

- ADI (average demand interval): periods observed / periods with non-zero demand;
- CV² : squared coefficient of variation of the non-zero demand sizes.

Cut-offs 1.32 (ADI) and 0.49 (CV²) (Syntetos, Boylan & Croston, 2005)::

                 CV² < 0.49     CV² ≥ 0.49
    ADI < 1.32   smooth         erratic
    ADI ≥ 1.32   intermittent   lumpy

Censored periods (stock-outs) are neither demand nor zero demand: they are left out of both
figures. Leading zeros (before the first sale: not launched yet) are left out too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

ADI_CUTOFF: Final = 1.32
CV2_CUTOFF: Final = 0.49

SMOOTH: Final = "smooth"
ERRATIC: Final = "erratic"
INTERMITTENT: Final = "intermittent"
LUMPY: Final = "lumpy"
SHORT: Final = "short"
PATTERNS: Final = (SMOOTH, ERRATIC, INTERMITTENT, LUMPY, SHORT)


@dataclass(frozen=True, slots=True)
class Classification:
    pattern: str
    adi: float
    cv2: float
    observed: int  # uncensored periods from the first sale on


def measure(y: np.ndarray, censored: np.ndarray | None = None) -> tuple[float, float, int]:
    """ADI, CV² and the number of uncensored periods from the first non-zero demand on."""
    values = np.asarray(y, dtype=float)
    keep = np.isfinite(values)
    if censored is not None:
        keep &= ~np.asarray(censored, dtype=bool)
    values = values[keep]
    nonzero = np.flatnonzero(values > 0)
    if nonzero.size == 0:
        return float("inf"), 0.0, int(values.size)
    values = values[nonzero[0] :]
    sizes = values[values > 0]
    adi = values.size / sizes.size
    mean = sizes.mean()
    cv2 = float(sizes.var() / (mean * mean)) if mean > 0 else 0.0
    return float(adi), cv2, int(values.size)


def pattern_of(adi: float, cv2: float) -> str:
    if adi < ADI_CUTOFF:
        return SMOOTH if cv2 < CV2_CUTOFF else ERRATIC
    return INTERMITTENT if cv2 < CV2_CUTOFF else LUMPY


def classify(
    y: np.ndarray, censored: np.ndarray | None = None, *, min_observed: int = 1
) -> Classification:
    """The demand pattern of one series; ``short`` under ``min_observed`` uncensored periods."""
    adi, cv2, observed = measure(y, censored)
    pattern = SHORT if observed < min_observed else pattern_of(adi, cv2)
    return Classification(pattern, adi, cv2, observed)


def classify_frame(
    frame: pd.DataFrame, *, min_observed: int = 1, censored_col: str = "censored"
) -> pd.DataFrame:
    """One row per ``unique_id``: pattern, adi, cv2, observed (frame sorted by id and ds)."""
    has_censored = censored_col in frame.columns
    rows = []
    for uid, group in frame.groupby("unique_id", sort=False):
        c = classify(
            group["y"].to_numpy(),
            group[censored_col].to_numpy() if has_censored else None,
            min_observed=min_observed,
        )
        rows.append((uid, c.pattern, c.adi, c.cv2, c.observed))
    return pd.DataFrame(rows, columns=["unique_id", "pattern", "adi", "cv2", "observed"])
