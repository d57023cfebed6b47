"""The training and held-out sets kept in the repository: well formed, every intent covered,
and no held-out line also in training (after normalization), so the held-out figure measures
generalization, not memory."""

from __future__ import annotations

from collections import Counter

from sincro.assistant.classifier import DATA, INTENTS, normalize, read_examples


def test_both_sets_cover_exactly_the_sixteen_intents() -> None:
    train = Counter(intent for _, intent in read_examples(DATA / "train.tsv"))
    test = Counter(intent for _, intent in read_examples(DATA / "test.tsv"))
    assert set(train) == set(test) == set(INTENTS)
    assert len(INTENTS) == 16
    assert min(train.values()) >= 60, train
    assert min(test.values()) >= 25, test


def test_no_held_out_line_is_in_training() -> None:
    seen = {normalize(text) for text, _ in read_examples(DATA / "train.tsv")}
    leaked = [text for text, _ in read_examples(DATA / "test.tsv") if normalize(text) in seen]
    assert leaked == []


def test_the_sets_are_written_as_customers_write() -> None:
    texts = [text for text, _ in read_examples(DATA / "train.tsv")]
    joined = " ".join(texts)
    assert sum(t.isupper() for t in texts) >= 50  # ALL CAPS
    assert any(ord(ch) > 0x1F000 for ch in joined)  # emoji
    for shorthand in ("vc", "pq", "qro", "obg", "vlw", "blz", "pfv"):
        assert f" {shorthand} " in f" {joined.lower()} " or shorthand in joined.lower().split()
    assert sum("?" in t or "." in t for t in texts) > 100  # questions, several sentences
