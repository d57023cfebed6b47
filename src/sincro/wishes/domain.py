"""Stock wishes ("Avise-me"): the one wish list and its back-in-stock notices.

Its own domain: a wish is neither a customer attribute nor a message. It relates a customer,
a product and a place, has a life of its own (open → notified or withdrawn), is triggered by
inventory's change feed and acted on through messaging, and has two consumers (the notice
here, the assistant's automation later) that must share it to never act twice on one wish."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="wishes",
    label="Avise-me",
    models=("sincro.wishes.models",),
    routers=("sincro.wishes.endpoints:router",),
    console_routers=("sincro.console.wishes.routes:router",),
    nav=(NavEntry("wishes", "Avise-me", "console_wishes", frozenset({"agent"}), order=78),),
    task_modules=("sincro.wishes.tasks",),
    beat="sincro.wishes.schedule:beat_entries",
    personal_data="sincro.wishes.privacy:PERSONAL_DATA",
)
