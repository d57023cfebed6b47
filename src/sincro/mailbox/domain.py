"""The demo mailbox: `sincro mail sink|imap` and the console's view of the sink (no tables)."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="mailbox",
    label="Caixa de saída (demo)",
    console_routers=("sincro.console.mailbox.routes:router",),
    nav=(
        NavEntry(
            "mailbox", "Caixa de saída (demo)", "console_mailbox", frozenset({"admin"}), order=95
        ),
    ),
    cli=(("mail", "sincro.mailbox.cli:mail_app"),),
    children="sincro.mailbox.cli:serve_commands",
)
