"""The fast routes' path templates: split once when the route is made, matched per request."""

from __future__ import annotations

import pytest

from sincro.fastroutes import FastRoute


async def _nothing(scope: object, receive: object, send: object) -> None:
    return None


def test_an_exact_path_has_no_parameter() -> None:
    route = FastRoute("POST", "/v1/reservations", _nothing)
    assert route.template is None
    assert route.parameter("/v1/reservations") is None


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/v1/reservations/42/commit", "42"),
        ("/v1/reservations/abc-9/commit", "abc-9"),
        ("/v1/reservations//commit", None),  # empty
        ("/v1/reservations/4/2/commit", None),  # two segments
        ("/v1/reservations/42/release", None),  # another suffix
        ("/v2/reservations/42/commit", None),  # another prefix
    ],
)
def test_a_template_matches_one_whole_segment(path: str, segment: str | None) -> None:
    route = FastRoute("POST", "/v1/reservations/{reservation_id}/commit", _nothing)
    assert route.template == ("/v1/reservations/", "/commit")
    assert route.parameter(path) == segment


def test_a_trailing_parameter_takes_the_rest_of_one_segment() -> None:
    route = FastRoute("GET", "/v1/availability/{sku}", _nothing)
    assert route.template == ("/v1/availability/", "")
    assert route.parameter("/v1/availability/CAP-000052") == "CAP-000052"
    assert route.parameter("/v1/availability/a/b") is None


@pytest.mark.parametrize(
    "path",
    ["/v1/{a}/x/{b}", "/v1/x{a}", "/v1/{a}x"],
)
def test_other_shapes_are_refused_when_the_route_is_made(path: str) -> None:
    with pytest.raises(ValueError, match="at most one whole-segment parameter"):
        FastRoute("GET", path, _nothing)


def test_routes_compare_by_method_path_and_handler_only() -> None:
    assert FastRoute("GET", "/v1/availability/{sku}", _nothing) == FastRoute(
        "GET", "/v1/availability/{sku}", _nothing
    )
