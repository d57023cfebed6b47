"""Inventory: stock levels per SKU x location, the movement ledger and reservations."""
