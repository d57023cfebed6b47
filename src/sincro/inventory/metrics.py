"""Inventory's Prometheus metrics."""

from prometheus_client import Counter

RESERVATIONS = Counter("sincro_reservations_total", "Reservation requests by outcome", ["outcome"])
FAST_PATH = Counter(
    "sincro_reservation_fast_path_total",
    "POST /v1/reservations requests the fast path answered, or handed to the documented route",
    ["decision"],
)
FAST_READ = Counter(
    "sincro_availability_fast_path_total",
    "GET /v1/availability/{sku} requests the fast path answered, or handed to the documented route",
    ["decision"],
)
