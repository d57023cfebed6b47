"""Feed: the change feed out of the outbox (SSE, webhooks, the RabbitMQ fan-out)."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="feed",
    label="Eventos",
    models=("sincro.feed.models",),
    routers=("sincro.feed.endpoints:router", "sincro.feed.webhook_endpoints:router"),
    task_modules=("sincro.feed.tasks",),
    queues=("events",),
    task_routes={"sincro.feed.*": "events"},
    beat="sincro.feed.schedule:beat_entries",
    runtime="sincro.feed.runtime:install",
    children="sincro.feed.runtime:children",
    metrics=("sincro.feed.metrics",),
    audit_actions={
        "webhook.create": "Webhook criado",
        "webhook.delete": "Webhook removido",
        "webhook.resume": "Webhook retomado",
        "webhook.rotate_secret": "Segredo do webhook trocado",
    },
)
