from __future__ import annotations

from sincro.errors import Conflict, InvalidInput, NotFound


class WishNotFound(NotFound):
    """No wish with that id."""


class UnknownCustomer(InvalidInput):
    """Neither the id nor the e-mail names a known customer."""


class UnknownReference(InvalidInput):
    """The SKU or location named does not exist (or the location is inactive)."""


class TooManyWishes(Conflict):
    """The customer already waits for as many SKUs as a customer may."""


class AlreadyAvailable(Conflict):
    """The wished place has the product now: nothing to wait for."""

    code = "already_available"
