"""The feed's Prometheus metrics."""

from prometheus_client import Counter, Gauge

EVENTS_DELIVERED = Counter("sincro_events_delivered_total", "Outbox events read by this process")
WEBHOOK_DELIVERIES = Counter(
    "sincro_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)
FEED_POSITION = Gauge(
    "sincro_feed_position", "Last outbox sequence seen by this process", multiprocess_mode="max"
)
