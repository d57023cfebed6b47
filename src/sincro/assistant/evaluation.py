"""The held-out evaluation: macro F1, per-intent precision/recall/F1 and the confusion table
of a model trained on ``data/train.tsv`` and scored on ``data/test.tsv`` (or other files).
Used by ``sincro assistant evaluate`` and ``bench/assistant_nlu.py``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sincro.assistant.classifier import DATA, INTENTS, IntentClassifier, read_examples


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    train_lines: int
    test_lines: int
    train_seconds: float
    macro_f1: float
    accuracy: float
    intents: tuple[IntentScore, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true intent, columns: predicted (INTENTS)
    misclassified: tuple[tuple[str, str, str], ...]  # (text, true, predicted)
    model: IntentClassifier

    def markdown(self) -> str:
        """The per-intent table and the confusion table (short column names)."""
        lines = ["| intent | precision | recall | F1 | n |", "|---|---|---|---|---|"]
        for s in self.intents:
            lines.append(
                f"| {s.intent} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support} |"
            )
        lines += ["", "| true \\ predicted | " + " | ".join(i[:6] for i in INTENTS) + " |"]
        lines.append("|---" * (len(INTENTS) + 1) + "|")
        for intent, row in zip(INTENTS, self.confusion, strict=True):
            lines.append(f"| {intent} | " + " | ".join(str(n) if n else "·" for n in row) + " |")
        return "\n".join(lines)


def evaluate(train_path: Path | None = None, test_path: Path | None = None) -> Evaluation:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    train = read_examples(train_path or DATA / "train.tsv")
    test = read_examples(test_path or DATA / "test.tsv")
    started = time.perf_counter()
    model = IntentClassifier(train)
    train_seconds = time.perf_counter() - started
    texts = [t for t, _ in test]
    truth = [i for _, i in test]
    predicted = [p.intent for p in model.predict_many(texts)]
    labels = list(INTENTS)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    matrix = confusion_matrix(truth, predicted, labels=labels)
    return Evaluation(
        train_lines=len(train),
        test_lines=len(test),
        train_seconds=train_seconds,
        # averaged over the intents the test file holds (all 16 in the held-out set)
        macro_f1=float(
            f1_score(
                truth,
                predicted,
                labels=[i for i in INTENTS if i in set(truth)],
                average="macro",
                zero_division=0,
            )
        ),
        accuracy=sum(a == b for a, b in zip(truth, predicted, strict=True)) / len(truth),
        intents=tuple(
            IntentScore(
                intent, float(precision[k]), float(recall[k]), float(f1[k]), int(support[k])
            )
            for k, intent in enumerate(INTENTS)
        ),
        confusion=tuple(tuple(int(n) for n in row) for row in matrix),
        misclassified=tuple(
            (text, want, got)
            for text, want, got in zip(texts, truth, predicted, strict=True)
            if want != got
        ),
        model=model,
    )
