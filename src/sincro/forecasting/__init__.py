"""Demand forecasting: pattern classification, per-series model selection, quantiles."""
