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
MISSES = Counter(
    "sincro_availability_cache_misses_total",
    "SKU snapshots the availability cache loaded on a read (cold, dropped or past the TTL)",
)
SHARED_ERRORS = Counter(
    "sincro_availability_shared_errors_total",
    "Shared snapshot store (Redis) calls that failed; the read went to the database",
)
