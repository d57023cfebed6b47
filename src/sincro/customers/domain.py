"""Customers and receivables from the ERPs."""

from sincro.domain import Domain

DOMAIN = Domain(name="customers", label="Clientes", models=("sincro.customers.models",))
