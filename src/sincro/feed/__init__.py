"""The change feed: Server-Sent Events, webhooks and the RabbitMQ fan-out of outbox events."""
