"""Stores and stock: ``loja_proxima`` (the nearest stores to a city) and
``disponibilidade_produto`` (units available now at the nearest stores holding the product),
and the follow-up "e na loja do centro?" answered against the last city's stores.

Distances are from the location directory's coordinates (``catalog.service.directory``): a
city's point is the mean of its locations' points (the directory is the one geographic source
Sincro has; a city the customer names is recognized only from it, so it always has one)."""

from __future__ import annotations

import re
import weakref

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.catalog import service as catalog
from sincro.catalog.service import LocationDirectory, Place
from sincro.customers import lookup as customers
from sincro.inventory import service as inventory
from sincro.text_pt import STOPWORDS, fold, integer_br

WORD = re.compile(r"[a-z0-9]+")
# what people call the big cities (the entity rules know only the directory's names)
NICKNAMES = {
    "rio": ("Rio de Janeiro", "RJ"),
    "sampa": ("São Paulo", "SP"),
    "sp": ("São Paulo", "SP"),
    "bh": ("Belo Horizonte", "MG"),
    "poa": ("Porto Alegre", "RS"),
    "floripa": ("Florianópolis", "SC"),
    "bsb": ("Brasília", "DF"),
}
GENERIC = frozenset({"loja", "lojas", "unidade", "filial", "ai", "la", "tem", "e", "na", "no"})


def _city_of(turn: Turn) -> str | None:
    """The city the customer means: named now, else the last one, else their own (verified)."""
    named = turn.entity("city")
    if named is not None:
        return named.normalized
    nickname = said_city(turn)
    if nickname is not None:
        return nickname
    last = turn.flow.get("city")
    if isinstance(last, str):
        return last
    if turn.conversation.customer_id is not None:
        contact = customers.find_customer(turn.session, customer_id=turn.conversation.customer_id)
        if contact and contact.city and contact.state:
            places = geography(turn).in_city(contact.city, contact.state)
            if places:
                return f"{places[0].city}/{places[0].state}"
    return None


def said_city(turn: Turn) -> str | None:
    """A city by its nickname ("rio", "sampa", "bh") when the directory has it."""
    for word in turn.words:
        if word in NICKNAMES:
            name, state = NICKNAMES[word]
            for place in catalog.directory(turn.session).places:
                if place.city == name and place.state == state:
                    return f"{name}/{state}"
    return None


def _split(city: str) -> tuple[str, str]:
    name, _, state = city.rpartition("/")
    return name, state


class Geography:
    """What the answers need of one location directory snapshot, worked out once per snapshot
    (a reloaded directory is a new object, an unchanged one is kept by the catalog): the
    active stores in directory order, each place's folded city, and the stores ranked from a
    city's point for the last ``RANKED_CITIES`` cities asked (folding 1,800 city names and
    300 haversines cost ~1 ms of every stock answer)."""

    RANKED_CITIES = 64

    def __init__(self, directory: LocationDirectory) -> None:
        self.stores = [p for p in directory.places if p.active and p.kind == "store"]
        self.places = directory.places
        self.folded_cities = [fold(p.city) for p in directory.places]  # by position
        self._ranked: dict[str, list[tuple[float, Place]]] = {}

    def in_city(self, name: str, state: str) -> list[Place]:
        """The places (any kind, active or not) of a city, by its folded name and UF."""
        folded = fold(name)
        return [
            p for p in self.places if self.folded_cities[p.position] == folded and p.state == state
        ]

    def ranked(self, city: str) -> list[tuple[float, Place]]:
        """Every active store by distance (km) from ``city``'s point, nearest first (the
        code breaks ties); empty when the directory has no place in that city. Shared: a
        caller slices or filters it, never changes it."""
        found = self._ranked.get(city)
        if found is None:
            found = self._rank(city)
            if len(self._ranked) >= self.RANKED_CITIES:
                self._ranked.clear()
            self._ranked[city] = found
        return found

    def _rank(self, city: str) -> list[tuple[float, Place]]:
        here = self.in_city(*_split(city))
        if not here:
            return []
        lat = sum(p.latitude for p in here) / len(here)
        lon = sum(p.longitude for p in here) / len(here)
        ranked = [(catalog.distance_km(lat, lon, p.latitude, p.longitude), p) for p in self.stores]
        return sorted(ranked, key=lambda pair: (pair[0], pair[1].code))


_geographies: weakref.WeakKeyDictionary[LocationDirectory, Geography] = weakref.WeakKeyDictionary()


def geography(turn: Turn) -> Geography:
    """The :class:`Geography` of the session's current location directory."""
    directory = catalog.directory(turn.session)
    found = _geographies.get(directory)
    if found is None:  # two threads may both build it: the same content, one is kept
        found = _geographies.setdefault(directory, Geography(directory))
    return found


def _stores(turn: Turn) -> list[Place]:
    return geography(turn).stores


def _ranked(turn: Turn, city: str) -> list[tuple[float, Place]]:
    """Every active store by distance from ``city``'s point (km)."""
    return geography(turn).ranked(city)


def _store_data(place: Place, km: float, quantity: int | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "code": place.code,
        "name": place.name,
        "city": place.city,
        "state": place.state,
        "distance_km": round(km, 1),
        "pickup": place.pickup_enabled,
    }
    if quantity is not None:
        data["quantity"] = quantity
    return data


def _product(turn: Turn) -> tuple[str, str] | None:
    """(sku, name) of the product named now, else the last one talked about."""
    named = turn.entity("product")
    if named is not None:
        ref = catalog.product_card(turn.session, named.normalized)
        if ref is not None:
            return ref.sku, ref.name
    last = turn.flow.get("product")
    if isinstance(last, dict) and "sku" in last:
        return str(last["sku"]), str(last.get("name", last["sku"]))
    return None


def _remember(turn: Turn, answer: Answer, city: str, product: tuple[str, str] | None) -> None:
    turn.flow["city"] = city
    if product is not None:
        turn.flow["product"] = {"sku": product[0], "name": product[1]}
        answer.skus = [product[0]]
        card = catalog.product_card(turn.session, product[0])
        answer.category = (card or catalog.get_product(turn.session, product[0])).category


def nearest_stores(turn: Turn) -> Answer:
    city = _city_of(turn)
    if city is None:
        turn.ask_for("city", "loja_proxima")
        return Answer.ask("De qual cidade você fala? Assim te mostro as lojas mais perto.")
    ranked = _ranked(turn, city)[: turn.settings.assistant_nearest_stores]
    if not ranked:
        turn.ask_for("city", "loja_proxima")
        return Answer.ask(
            f"Não achei lojas perto de {_split(city)[0]}. Pode me dizer outra cidade?"
        )
    turn.done_waiting()
    lines = [f"• {p.name} ({integer_br(round(km))} km)" for km, p in ranked]
    answer = Answer(
        "As lojas mais perto de " + _split(city)[0] + ":\n" + "\n".join(lines),
        [Action("show_stores", {"city": city, "stores": [_store_data(p, km) for km, p in ranked]})],
    )
    _remember(turn, answer, city, None)
    turn.flow["stores"] = [p.code for _, p in ranked]
    return answer


def availability(turn: Turn) -> Answer:
    product = _product(turn)
    if product is None:
        turn.ask_for("product", "disponibilidade_produto")
        return Answer.ask("Qual produto você procura? Pode mandar o nome ou o modelo.")
    turn.flow["product"] = {"sku": product[0], "name": product[1]}
    city = _city_of(turn)
    if city is None:
        turn.ask_for("city", "disponibilidade_produto")
        return Answer.ask(f"De qual cidade? Vejo o estoque de {product[1]} nas lojas mais perto.")
    turn.done_waiting()
    stock = inventory.available_by_location(turn.session, product[0])
    ranked = [(km, p) for km, p in _ranked(turn, city) if stock.get(p.code, 0) > 0]
    shown = ranked[: turn.settings.assistant_nearest_stores]
    stores = [_store_data(p, km, stock[p.code]) for km, p in shown]
    action = Action("show_stores", {"city": city, "product": _sku_data(product), "stores": stores})
    if not shown:
        reply = (
            f"No momento não temos {product[1]} em estoque nas lojas perto de {_split(city)[0]}."
        )
    else:
        lines = [
            f"• {p.name}: {_units(stock[p.code])} ({integer_br(round(km))} km)" for km, p in shown
        ]
        reply = f"{product[1]} perto de {_split(city)[0]}:\n" + "\n".join(lines)
    answer = Answer(reply, [action])
    _remember(turn, answer, city, product)
    turn.flow["stores"] = [p.code for _, p in shown]
    return answer


def _sku_data(product: tuple[str, str]) -> dict[str, str]:
    return {"sku": product[0], "name": product[1]}


def _units(n: int) -> str:
    return "1 unidade" if n == 1 else f"{integer_br(n)} unidades"


def _name_words(place: Place) -> set[str]:
    """The distinctive words of a store's name ("Loja Shopping Centro - Niterói" → shopping,
    centro): without "loja", the city and stopwords."""
    city = set(WORD.findall(fold(place.city)))
    name = WORD.findall(fold(place.name))
    return {w for w in name if w not in GENERIC and w not in STOPWORDS and w not in city}


def named_store(turn: Turn) -> Place | None:
    """The store of the last city the customer names ("e na loja do centro?"): the one whose
    name holds the most of the words they wrote, the shortest name on a tie (so "centro" is
    "Loja Centro", not "Loja Shopping Centro"); None when no word of a name was written."""
    city = turn.flow.get("city")
    if not isinstance(city, str):
        return None
    name, state = _split(city)
    said = set(turn.words) - GENERIC - STOPWORDS
    if not said:
        return None
    best: tuple[int, int, str] | None = None
    found: Place | None = None
    for place in geography(turn).in_city(name, state):
        if not place.active or place.kind != "store":
            continue
        words = _name_words(place)
        hits = len(words & said)
        if hits == 0:
            continue
        key = (-hits, len(words), place.code)
        if best is None or key < best:
            best, found = key, place
    return found


def store_follow_up(turn: Turn, place: Place) -> Answer:
    """The named store: the last product's units there, or the store itself."""
    product = _product(turn)
    data = _store_data(place, 0.0)
    data.pop("distance_km")
    turn.flow["store"] = place.code
    if product is None:
        answer = Answer(
            f"A {place.name} fica em {place.city}/{place.state}.",
            [Action("show_stores", {"city": f"{place.city}/{place.state}", "stores": [data]})],
        )
        return answer
    stock = inventory.available_by_location(turn.session, product[0])
    quantity = stock.get(place.code, 0)
    data["quantity"] = quantity
    if quantity:
        reply = f"Na {place.name} temos {_units(quantity)} de {product[1]}."
    else:
        reply = f"Na {place.name} não temos {product[1]} agora."
    answer = Answer(
        reply,
        [
            Action(
                "show_stores",
                {
                    "city": f"{place.city}/{place.state}",
                    "product": _sku_data(product),
                    "stores": [data],
                },
            )
        ],
    )
    answer.skus = [product[0]]
    return answer
