"""Access: API keys, console users and their roles."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="access",
    label="Acesso",
    models=("sincro.access.models",),
    runtime="sincro.access.runtime:install",
    cli=(("keys", "sincro.access.cli:keys_app"), ("users", "sincro.access.cli:users_app")),
)
