"""The compiled mapper (one generated function per entity) against the rules as they were
written before it, field by field: the same canonical rows, the same rejects (record, field,
rule, value, message), on pages that mix valid, invalid, duplicated and odd records."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest

from sincro.connectors.rest.config import PACKAGED_MAPPINGS
from sincro.connectors.rest.mapping import (
    CANONICAL_FIELDS,
    EntityMapping,
    Mapper,
    RecordRejected,
    Reject,
    _text,
    compile_transform,
    load_mapping,
)
from sincro.simulators.rest import DocumentsSimulator, ProtheusSimulator
from sincro.text_pt import document_kind, mask

PROTHEUS = load_mapping(PACKAGED_MAPPINGS / "protheus.yaml")
DOCS = load_mapping(PACKAGED_MAPPINGS / "docs_json.yaml")


class ReferenceMapper:
    """The interpreted mapper the compiled one replaced (kept here as the oracle)."""

    def __init__(self, spec: EntityMapping) -> None:
        self.spec = spec
        self.fields = [
            (
                name,
                (rule.source,) if isinstance(rule.source, str) else tuple(rule.source or ()),
                rule.join,
                [compile_transform(t) for t in rule.transforms],
                rule.default,
                rule.required or name in CANONICAL_FIELDS[spec.canonical][0],
                rule.personal,
            )
            for name, rule in spec.fields.items()
        ]

    @staticmethod
    def value(field: tuple[Any, ...], record: dict[str, Any]) -> Any:
        name, sources, join, transforms, default, required, personal = field
        if len(sources) == 1:
            raw = record.get(sources[0])
        elif sources:
            parts = [_text(record.get(s) or "").strip() for s in sources]
            raw = join.join(p for p in parts if p)
        else:
            raw = None
        value = raw
        if isinstance(value, str) and not value.strip():
            value = None
        if value is not None:
            for transform in transforms:
                try:
                    value = transform(value)
                except ValueError as exc:
                    rule, _, message = str(exc).partition("|")
                    if not message:
                        rule, message = "invalid", str(exc)
                    shown = mask(_text(raw)) if personal else raw
                    raise RecordRejected(name, rule, shown, message) from None
                if value == "":
                    value = None
                    break
        if value is None:
            value = default
        if value is None and required:
            raise RecordRejected(name, "required", None, f"{name} is required")
        return value

    def key_of(self, record: dict[str, Any]) -> str:
        return "|".join(_text(record.get(k, "")).strip() for k in self.spec.key)

    def map_page(self, records: Iterable[Any]) -> tuple[list[Any], list[Reject]]:
        good: dict[str, dict[str, Any]] = {}
        rejects: list[Reject] = []
        for record in records:
            if not isinstance(record, dict):
                rejects.append(
                    Reject("?", None, "not_an_object", None, "record is not a JSON object")
                )
                continue
            try:
                out = {f[0]: self.value(f, record) for f in self.fields}
            except RecordRejected as exc:
                value = None if exc.value is None else _text(exc.value)[:200]
                key = self.key_of(record)[:120]
                rejects.append(Reject(key, exc.field, exc.rule, value, exc.message))
                continue
            if out.get("document"):
                out["document_kind"] = document_kind(out["document"])
            good[self.key_of(record)] = out
        return list(good.items()), rejects


def odd(record: dict[str, Any], rng: random.Random) -> Any:
    """A record with one field made odd: null, blank, a number where text is, missing…"""
    choice = rng.randrange(9)
    if choice == 0:
        return [record]  # not an object
    field = rng.choice(sorted(record))
    copy = dict(record)
    if choice == 1:
        copy[field] = None
    elif choice == 2:
        copy[field] = "   "
    elif choice == 3:
        copy[field] = rng.choice([0, 7, -3, 2.5, 12.0, True])
    elif choice == 4:
        del copy[field]
    elif choice == 5:
        copy[field] = "N/D"
    elif choice == 6:
        copy[field] = ""
    elif choice == 7:
        copy[field] = f"  {copy[field]}  "
    else:
        copy[field] = ["x"]
    return copy


def protheus_pages() -> dict[str, list[Any]]:
    sim = ProtheusSimulator(port=0, stores=3, dcs=1, customers=200, products=40)
    sim.server.server_close()
    sim.faults.bad_record_rate, sim.faults.duplicate_rate = 0.2, 0.1
    pages = {}
    for entity, table in (
        ("products", "SB1"),
        ("stock", "SB2"),
        ("customers", "SA1"),
        ("receivables", "SE1"),
        ("plans", "ZPL"),
        ("promotions", "ZPR"),
    ):
        items, _ = sim.tables[table].select(None, 0, 300)
        pages[entity] = sim.decorate(table, items, 0)
    return pages


def documents_page() -> list[Any]:
    sim = DocumentsSimulator(port=0, documents=150, products=20)
    sim.server.server_close()
    sim.faults.bad_record_rate, sim.faults.duplicate_rate = 0.2, 0.1
    return sim.decorate("documents", [sim.record(p) for p in range(len(sim.feed))], 0)


PAGES = {**{("protheus", e): p for e, p in protheus_pages().items()}}
PAGES[("docs", "documents")] = documents_page()


@pytest.mark.parametrize("which", sorted(PAGES), ids=lambda w: f"{w[0]}-{w[1]}")
def test_compiled_mapper_gives_the_same_rows_and_rejects(which: tuple[str, str]) -> None:
    spec = (PROTHEUS if which[0] == "protheus" else DOCS).entities[which[1]]
    rng = random.Random(f"{which}")
    page = list(PAGES[which])
    page += [odd(r, rng) for r in page if isinstance(r, dict)]  # every field made odd somewhere
    rng.shuffle(page)
    good, rejects = Mapper(which[1], spec).map_page(page)
    expected_good, expected_rejects = ReferenceMapper(spec).map_page(page)
    assert rejects == expected_rejects
    assert good == expected_good
    assert good and rejects  # the page really mixes both
    # the single-record entry point agrees with the page
    mapper = Mapper(which[1], spec)
    singles = [mapper.map(r) for r in page]
    assert [r for r in singles if isinstance(r, Reject)] == rejects


@pytest.mark.parametrize("which", sorted(PAGES), ids=lambda w: f"{w[0]}-{w[1]}")
def test_columns_are_the_rows_of_map_page(which: tuple[str, str]) -> None:
    """``map_columns`` (stock's path: no dict per record) gives the same records, keys,
    order, deduplication and rejects as ``map_page``."""
    spec = (PROTHEUS if which[0] == "protheus" else DOCS).entities[which[1]]
    rng = random.Random(f"columns {which}")
    page = list(PAGES[which])
    page += [odd(r, rng) for r in page if isinstance(r, dict)]
    rng.shuffle(page)
    mapper = Mapper(which[1], spec)
    columns, rejects = mapper.map_columns(page)
    good, expected_rejects = mapper.map_page(page)
    assert rejects == expected_rejects and rejects
    rows = columns.rows()
    if which[1] == "customers":  # document_kind is derived per record, not a mapped column
        good = [(k, {f: v for f, v in r.items() if f != "document_kind"}) for k, r in good]
    assert rows == good and len(rows) < len(page)


def test_a_reject_names_the_record_and_the_field_and_nothing_of_it_is_kept() -> None:
    spec = PROTHEUS.entities["stock"]
    page = [
        {"B2_FILIAL": "0001", "B2_COD": "CEL-000001 ", "B2_LOCAL": "01", "B2_QATU": 5.0},
        {"B2_FILIAL": "0001", "B2_COD": "CEL-000002 ", "B2_LOCAL": "01", "B2_QATU": "N/D"},
        {"B2_FILIAL": "0001", "B2_COD": "   ", "B2_LOCAL": "01", "B2_QATU": 1.0},
    ]
    good, rejects = Mapper("stock", spec).map_page(page)
    assert [key for key, _ in good] == ["0001|CEL-000001|01"]
    assert good[0][1]["on_hand"] == 5 and good[0][1]["sku"] == "CEL-000001"
    assert [(r.record_key, r.field, r.rule, r.value) for r in rejects] == [
        ("0001|CEL-000002|01", "on_hand", "decimal", "N/D"),
        ("0001||01", "sku", "required", None),
    ]


def test_columns_map_equal_values_of_other_types_apart() -> None:
    """``map_columns`` maps each distinct value of a column once; values that are equal yet
    map differently (1, 1.0 and True; 0.0 and -0.0 through a text transform) still get
    their own result and reject, as ``map_page`` gives them."""
    spec = EntityMapping.model_validate(
        {
            "canonical": "stock_balance",
            "path": "/x",
            "pagination": {"style": "page"},
            "records_path": "items",
            "key": ["id"],
            "fields": {
                "sku": {"from": "code", "transforms": ["strip", "upper"]},
                "location": {
                    "from": "plant",
                    "transforms": [{"map": {"1": "A", "1.0": "B", "*": "Z"}}],
                },
                "on_hand": {"from": "qty", "transforms": ["decimal"]},
                "storage": {"from": "floats", "transforms": ["strip"]},  # floats only
            },
        }
    )
    values = [1, 1.0, True, 0.0, -0.0, 0, False, "1", 2.5, "N/D", -0.0, 1.0]
    page = [
        {
            "id": i,
            "code": v,
            "plant": values[(i + 3) % len(values)],
            "qty": v,
            "floats": (0.0, -0.0, 2.5)[i % 3],
        }
        for i, v in enumerate(values * 2)
    ]
    mapper = Mapper("stock", spec)
    columns, rejects = mapper.map_columns(page)
    good, expected_rejects = mapper.map_page(page)
    assert rejects == expected_rejects and rejects
    assert columns.rows() == good and good
    skus = {rec["sku"] for _, rec in good}
    assert {"1", "1.0", "0", "0.0", "-0.0"} <= skus
    assert {rec["storage"] for _, rec in good} == {"0.0", "-0.0", "2.5"}
