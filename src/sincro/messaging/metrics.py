"""Messaging's Prometheus metrics (workers and the api)."""

from prometheus_client import Counter, Gauge, Histogram

from sincro import health

SENT = Counter("sincro_messaging_sent_total", "Messages accepted by the SMTP relay", ["purpose"])
FAILED = Counter(
    "sincro_messaging_failed_total",
    "Messages not accepted: temporary (will retry), permanent, exhausted, render",
    ["kind"],
)
CLAIMED = Counter("sincro_messaging_claimed_total", "Ledger rows claimed by workers")
REAPED = Counter("sincro_messaging_reaped_total", "Rows returned from dead claims")
SEND_SECONDS = Histogram(
    "sincro_messaging_send_seconds",
    "Render, rate wait and SMTP call of one message",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_LAG = Histogram(
    "sincro_messaging_queue_lag_seconds",
    "From a batch being enqueued to a worker starting it",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900),
)
PENDING = Gauge(
    "sincro_messaging_pending", "Ledger rows waiting to be sent", multiprocess_mode="max"
)


# what the "Saúde" page shows of messaging, from each worker's heartbeat
health.register_figure(
    "messaging.sent",
    "sincro_messaging_sent_total",
    "E-mails enviados por segundo",
    kind="rate",
    unit="/s",
)
health.register_figure(
    "messaging.failed",
    "sincro_messaging_failed_total",
    "Falhas de envio por segundo",
    kind="rate",
    unit="/s",
)
health.register_figure(
    "messaging.queue_lag",
    "sincro_messaging_queue_lag_seconds",
    "Espera na fila de e-mail",
    kind="mean",
    unit="s",
)
