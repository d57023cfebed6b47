"""The assistant's understanding, measured on the frozen held-out set (issue #11, section 1).

    PYTHONPATH=src python bench/assistant_nlu.py            # evaluate on data/test.tsv
    PYTHONPATH=src python bench/assistant_nlu.py --select   # model choice: CV on train only

Evaluation prints macro F1, per-intent precision/recall/F1, the confusion table (rows: true
intent, columns: predicted; short names), training time, and the latency of
``classify`` + entity rules per message (p50/p99 over the test messages, 20 rounds).
``--select`` compares the candidate models by 5-fold stratified cross-validation on the
TRAINING set only (the test set is not read)."""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from sincro.assistant import entities
from sincro.assistant.classifier import DATA, normalize, pipeline, read_examples
from sincro.assistant.evaluation import evaluate

CANDIDATES = (("svm", 0.3), ("svm", 1.0), ("svm", 3.0), ("logreg", 5.0), ("logreg", 20.0))


def select() -> None:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    train = read_examples(DATA / "train.tsv")
    texts = [normalize(t) for t, _ in train]
    labels = [i for _, i in train]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for kind, c in CANDIDATES:
        started = time.perf_counter()
        predicted = cross_val_predict(pipeline(kind, c), texts, labels, cv=folds)
        score = f1_score(labels, predicted, average="macro")
        print(f"{kind:7} C={c:<5} CV macro F1 {score:.4f}  ({time.perf_counter() - started:.1f} s)")


def report() -> dict[str, float]:
    result = evaluate()
    model = result.model
    texts = [t for t, _ in read_examples(DATA / "test.tsv")]
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(
        f"train {result.train_lines} lines, test {result.test_lines} lines, "
        f"training {result.train_seconds:.2f} s"
    )
    print(f"macro F1 {result.macro_f1:.4f}  accuracy {result.accuracy:.4f}\n")
    print(result.markdown())
    print("\nmisclassified:")
    for text, want, got in result.misclassified:
        print(f"  {want} -> {got}: {text}")
    latencies = []
    for _ in range(20):
        for text in texts:
            t0 = time.perf_counter()
            model.predict(text)
            entities.find(text)
            latencies.append(time.perf_counter() - t0)
    p50, p99 = percentiles(latencies)
    print(f"\nper message (classify + entities, no catalog): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    places, products = synthetic_catalog()
    latencies = []
    for _ in range(5):
        for text in texts:
            t0 = time.perf_counter()
            model.predict(text)
            entities.find(text, places, products)
            latencies.append(time.perf_counter() - t0)
    c50, c99 = percentiles(latencies)
    print(
        f"with a catalog of {len(products.items)} products and {len(places.cities)} cities: "
        f"p50 {c50:.2f} ms, p99 {c99:.2f} ms"
    )
    return {"macro_f1": result.macro_f1, "p50_ms": p50, "p99_ms": p99}


def percentiles(seconds: list[float]) -> tuple[float, float]:
    seconds = sorted(seconds)
    return statistics.median(seconds) * 1000, seconds[int(len(seconds) * 0.99)] * 1000


def synthetic_catalog() -> tuple[entities.Places, entities.Products]:
    """5,000 products named like a phone shop's (brand, model, storage, colour) and 600
    cities, for the latency of the product and place rules at a realistic size."""
    brands = ("Apple iPhone", "Samsung Galaxy", "Motorola Moto", "Xiaomi Redmi", "Xiaomi Poco")
    colours = ("Preto", "Azul", "Branco", "Verde", "Rosa")
    names = []
    for n in range(5000):
        model = f"{'ASGE'[n % 4]}{n % 97}"
        storage = (64, 128, 256, 512)[n % 4]
        names.append((f"SKU-{n:05d}", f"{brands[n % 5]} {model} {storage}GB {colours[n % 5]}"))
    cities = [(f"Cidade {chr(97 + n % 26)}{n}", "SP") for n in range(600)]
    return entities.Places(cities), entities.Products(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", action="store_true", help="CV on the training set only")
    args = parser.parse_args()
    if args.select:
        select()
    else:
        report()


if __name__ == "__main__":
    main()
