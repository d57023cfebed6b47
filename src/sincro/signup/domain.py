"""The e-mail sign-up service: `sincro signup watch|demo-reply`, its processed-message table,
and the watcher as a child of `sincro serve` when an inbox is configured."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="signup",
    label="Cadastro por e-mail",
    models=("sincro.signup.models",),
    cli=(("signup", "sincro.signup.cli:signup_app"),),
    children="sincro.signup.cli:serve_commands",
    personal_data="sincro.signup.privacy:PERSONAL_DATA",
)
