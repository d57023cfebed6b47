"""Customers and receivables synced from the ERPs (used by messaging and reports)."""
