"""Access: API keys, console users and their roles."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="access",
    label="Acesso",
    models=("sincro.access.models",),
    routers=("sincro.access.endpoints:router",),
    console_routers=("sincro.console.access.routes:router",),
    nav=(NavEntry("audit", "Auditoria", "console_audit", frozenset({"admin"}), order=90),),
    runtime="sincro.access.runtime:install",
    cli=(("keys", "sincro.access.cli:keys_app"), ("users", "sincro.access.cli:users_app")),
    audit_actions={
        "key.create": "Chave criada",
        "key.revoke": "Chave revogada",
        "user.create": "Usuário criado",
    },
)
