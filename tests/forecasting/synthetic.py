"""Small synthetic demand series with known patterns, for the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = np.array([0.7, 0.8, 0.9, 1.0, 1.3, 1.8, 0.5])


def series(uid: str, y: np.ndarray, start: str = "2024-01-01", freq: str = "D") -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(y), freq=freq)
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(y, dtype=float)})


def seasonal(rng: np.random.Generator, n: int = 168, level: float = 20.0) -> np.ndarray:
    return rng.poisson(level * np.resize(WEEK, n)).astype(float)


def intermittent(rng: np.random.Generator, n: int = 168, p: float = 0.15) -> np.ndarray:
    return ((rng.random(n) < p) * (1 + rng.poisson(1.0, n))).astype(float)


def lumpy(rng: np.random.Generator, n: int = 168, p: float = 0.15) -> np.ndarray:
    return ((rng.random(n) < p) * rng.choice([1, 2, 15, 40], n)).astype(float)


def erratic(rng: np.random.Generator, n: int = 168) -> np.ndarray:
    return (1 + rng.choice([0, 1, 2, 30, 60], n)).astype(float)
