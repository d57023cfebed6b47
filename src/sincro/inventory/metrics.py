"""Inventory's Prometheus metrics."""

from prometheus_client import Counter

RESERVATIONS = Counter("sincro_reservations_total", "Reservation requests by outcome", ["outcome"])
