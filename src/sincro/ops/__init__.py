"""Operação: one place to watch every service (heartbeats, queues, figures, alerts)."""
