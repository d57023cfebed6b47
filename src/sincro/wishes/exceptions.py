from __future__ import annotations

from sincro.errors import Conflict, InvalidInput, NotFound


class WishNotFound(NotFound):
    """No wish with that id."""


class UnknownCustomer(InvalidInput):
    """Neither the id nor the e-mail names a known customer."""


class TooManyWishes(Conflict):
    """The customer already waits for as many SKUs as a customer may."""
