"""The one list of installed domains. Adding a domain: a package with a ``domain.py`` (see
:mod:`sincro.domain`) and one line here. Order is the order of the console's navigation ties,
of router inclusion and of runtime installation."""

from __future__ import annotations

from functools import cache

from sincro.domain import Domain, resolve

INSTALLED: tuple[str, ...] = (
    "sincro.access",
    "sincro.catalog",
    "sincro.inventory",
    "sincro.feed",
    "sincro.connectors",
    "sincro.customers",
    "sincro.mailbox",
    "sincro.signup",
    "sincro.forecasting",
    "sincro.ops",
    "sincro.reports",
    "sincro.messaging",
    "sincro.billing",
    "sincro.wishes",
    "sincro.assistant",
    "sincro.automation",
)


@cache
def installed() -> tuple[Domain, ...]:
    """Every installed domain's declaration (``<package>.domain:DOMAIN``)."""
    domains = tuple(resolve(f"{package}.domain:DOMAIN") for package in INSTALLED)
    for package, domain in zip(INSTALLED, domains, strict=True):
        if not isinstance(domain, Domain):
            raise TypeError(f"{package}.domain.DOMAIN is not a sincro.domain.Domain")
    return domains


@cache
def audit_action_labels() -> dict[str, str]:
    """The pt-BR label of every audit action any installed domain records."""
    labels: dict[str, str] = {}
    for domain in installed():
        for action, label in domain.audit_actions.items():
            if action in labels:
                raise ValueError(f"audit action {action!r} is declared by two domains")
            labels[action] = label
    return labels
