"""The feed's Prometheus metrics, and those of them the health page shows (figures)."""

from prometheus_client import Counter, Gauge

from sincro import health

EVENTS_DELIVERED = Counter("sincro_events_delivered_total", "Outbox events read by this process")
WEBHOOK_DELIVERIES = Counter(
    "sincro_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]
)
FEED_POSITION = Gauge(
    "sincro_feed_position", "Last outbox sequence seen by this process", multiprocess_mode="max"
)

health.register_figure(
    "feed.webhooks_sent",
    "sincro_webhook_deliveries_total",
    "Webhooks entregues por segundo",
    kind="rate",
    labels={"outcome": "success"},
    unit="/s",
)
health.register_figure(
    "feed.webhooks_failed",
    "sincro_webhook_deliveries_total",
    "Falhas de entrega de webhook por segundo",
    kind="rate",
    labels={"outcome": "failure"},
    unit="/s",
)
