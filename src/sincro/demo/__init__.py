"""Demo operator: a synthetic Brazilian telecom retailer (stores, DCs, catalog, stock)."""
