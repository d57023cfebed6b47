"""The assistant's one door: :func:`parse` (intent, confidence, entities) for the API and for
the conversation parts built on it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sincro.assistant import entities as entity_rules
from sincro.assistant.classifier import INTENTS, Prediction, classifier
from sincro.assistant.entities import Entity, Places, Products
from sincro.assistant.schemas import EntityOut, ParseOut
from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.errors import InvalidInput

PRODUCT_CHUNK = 5000

__all__ = ["INTENTS", "Entity", "Prediction", "classify", "find_entities", "parse"]


def _load(session: Session) -> tuple[Places, Products]:
    places = Places((p.city, p.state) for p in catalog.directory(session).places if p.active)
    ids = sorted(catalog.every_product_id(session).values())
    names: list[tuple[str, str]] = []
    for at in range(0, len(ids), PRODUCT_CHUNK):  # bound the IN list (SQLite's variable limit)
        refs = catalog.product_refs(session, ids[at : at + PRODUCT_CHUNK])
        names.extend((ref.sku, ref.name) for ref in refs.values())
    return places, Products(names)


def catalog_lists(session: Session) -> tuple[Places, Products]:
    """The cities and products of this session's database (cached a minute per process)."""
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    return entity_rules.catalog_lists(key, lambda: _load(session))


def classify(text: str) -> Prediction:
    """The intent and its calibrated probability (the model trains on first use)."""
    return classifier().predict(text)


def find_entities(session: Session | None, text: str) -> list[Entity]:
    """The entities in ``text``; without a session, only those that need no catalog."""
    if session is None:
        return entity_rules.find(text)
    places, products = catalog_lists(session)
    return entity_rules.find(text, places, products)


def parse(session: Session | None, text: str, settings: Settings) -> ParseOut:
    """Intent, confidence, whether to ask to clarify, and the entities of ``text``."""
    if len(text) > settings.assistant_max_text_chars:
        raise InvalidInput(
            f"text is longer than {settings.assistant_max_text_chars} characters", field="text"
        )
    prediction = classify(text)
    found = find_entities(session, text)
    return ParseOut(
        intent=prediction.intent,
        confidence=round(prediction.confidence, 4),
        clarify=prediction.confidence < settings.assistant_confidence_threshold,
        entities=[EntityOut(**e.as_dict()) for e in found],
    )
