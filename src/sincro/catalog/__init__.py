"""Catalog: locations (stores, DCs) and products (SKUs)."""
