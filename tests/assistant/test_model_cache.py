"""The fitted intent model cached in the var dir: a second start loads it instead of training and
predicts exactly the same; a cache for other data (a mismatched key), a damaged file or one that
does not fit together is ignored, the model trained again and the file replaced; an api process
configured with the cache writes it into its own var dir."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sincro.assistant import classifier as classifier_module, model_cache
from sincro.assistant.classifier import DATA, read_examples
from sincro.config import Settings


@pytest.fixture(scope="module")
def train() -> list[tuple[str, str]]:
    return read_examples(DATA / "train.tsv")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    held_out = [text for text, _ in read_examples(DATA / "test.tsv")]
    return [*held_out, "", "zzzz qqqq", "🙂", "QRO A 2 VIA DA FATURA 884512"]


@pytest.fixture(scope="module")
def trained(train: list[tuple[str, str]]) -> classifier_module.IntentClassifier:
    return classifier_module.IntentClassifier(train)


def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("trained although the cache matched")

    monkeypatch.setattr(classifier_module, "pipeline", refuse)


def test_a_second_start_loads_and_predicts_identically(
    tmp_path: Path, train: list[tuple[str, str]], texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = model_cache.load_or_train(train, tmp_path)
    assert first.trained and (tmp_path / model_cache.FILE_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [model_cache.FILE_NAME]  # no temporary left
    with monkeypatch.context() as patched:
        no_training(patched)
        second = model_cache.load_or_train(train, tmp_path)
    assert not second.trained and second.classes == first.classes
    assert np.array_equal(second.probabilities(texts), first.probabilities(texts))
    assert second.predict_many(texts) == first.predict_many(texts)
    # what it would have trained is what it loaded: the pipeline, fitted on demand, agrees
    expected = second.pipeline.predict_proba([classifier_module.normalize(t) for t in texts])
    assert np.abs(second.probabilities(texts) - expected).max() < 1e-9


def test_other_data_or_parameters_train_again_and_replace_the_file(
    tmp_path: Path, train: list[tuple[str, str]], texts: list[str]
) -> None:
    fewer = train[: len(train) * 3 // 4]
    assert model_cache.cache_key(fewer) != model_cache.cache_key(train)
    assert model_cache.cache_key(train, c=1.0) != model_cache.cache_key(train)
    assert model_cache.cache_key(train) == model_cache.cache_key(list(train))
    model_cache.load_or_train(fewer, tmp_path)
    again = model_cache.load_or_train(train, tmp_path)
    assert again.trained  # the key did not match: trained from these examples
    fresh = classifier_module.IntentClassifier(train)
    assert np.array_equal(again.probabilities(texts), fresh.probabilities(texts))
    loaded = model_cache.load_or_train(train, tmp_path)
    assert not loaded.trained  # the file now holds this data's model


def test_a_version_change_does_not_load(
    tmp_path: Path, train: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn

    model_cache.load_or_train(train, tmp_path)
    monkeypatch.setattr(sklearn, "__version__", sklearn.__version__ + ".post1")
    assert model_cache.load(tmp_path / model_cache.FILE_NAME, model_cache.cache_key(train)) is None
    assert model_cache.load_or_train(train, tmp_path).trained


@pytest.mark.parametrize("damage", ["garbage", "truncated", "inconsistent", "pickled"])
def test_a_damaged_file_is_ignored_and_replaced(
    tmp_path: Path,
    train: list[tuple[str, str]],
    trained: classifier_module.IntentClassifier,
    damage: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / model_cache.FILE_NAME
    key = model_cache.cache_key(train)
    assert model_cache.save(path, key, trained)
    assert model_cache.load(path, key) is not None
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    else:
        with np.load(path) as stored:
            arrays = dict(stored)
        if damage == "inconsistent":
            arrays["weights0"] = arrays["weights0"][:-1]  # one term fewer than the vocabulary
        else:  # an object array needs pickle to load: refused, nothing of it runs
            arrays["classes"] = np.array([{"x": 1}] * 16, dtype=object)
        with path.open("wb") as file:
            np.savez(file, **arrays)
    with caplog.at_level(logging.WARNING, "sincro.assistant.model_cache"):
        assert model_cache.load(path, key) is None
    assert "ignored" in caplog.text
    trainings: list[int] = []

    def training(*_: object, **__: object) -> classifier_module.IntentClassifier:
        trainings.append(1)
        return trained  # the same examples' model, trained once for this module

    monkeypatch.setattr(model_cache, "IntentClassifier", training)
    assert model_cache.load_or_train(train, tmp_path) is trained and trainings == [1]
    assert model_cache.load(path, key) is not None  # replaced with a good one


def test_an_api_process_caches_in_its_var_dir_and_the_next_loads(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sincro.app import create_app

    monkeypatch.setattr(classifier_module, "_cache_dir", None)
    path = settings.var_dir / model_cache.FILE_NAME
    # no training thread: one left waiting would fill the process's model after a clear below
    # (the thread's own start is covered by test_restart.py on a real api)
    settings = settings.model_copy(update={"assistant_train_at_start": False})
    for round_ in ("trains", "loads"):
        classifier_module._trained.cache_clear()
        try:
            with TestClient(create_app(settings)):
                model = classifier_module.classifier()
        finally:
            classifier_module._trained.cache_clear()  # the next test's process model is its own
        assert path.is_file()
        assert model.trained is (round_ == "trains")
    off = settings.model_copy(update={"assistant_model_cache": False})
    with TestClient(create_app(off)):
        assert classifier_module._cache_dir is None
    classifier_module._trained.cache_clear()
