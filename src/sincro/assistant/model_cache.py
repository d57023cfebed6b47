"""The fitted intent model cached in the process's var dir, so an api worker that starts again
loads in milliseconds what it would train in one or two seconds (about 80 s on a loaded
machine) — the same model: training stays the definition, the cache only its saved result.

The file (``assistant-intent-model.npz``) holds the :class:`~sincro.assistant.classifier.Scorer`'s
numbers only — each vectorizer's terms (in index order), idf and weights, the SVM's intercepts,
the calibrators' slopes and offsets, the classes — as NumPy arrays in a zip, read with
``allow_pickle=False``: loading it runs no code from the file (not a pickle). The analyzers are
rebuilt from ``classifier.features()``. It is loaded only when its key matches
:func:`cache_key`: a hash of the training data as the model sees it (normalized text and
intent), the pipeline's parameters, this format and the scikit-learn and NumPy versions; a
missing, mismatched, unreadable or inconsistent file is ignored, the model is trained and the
file replaced (written to a temporary file in the same directory, then renamed). Nothing is
committed: the file lives only in the var dir, made by the process itself."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sincro.assistant.classifier import (
    INTENTS,
    MODEL_C,
    MODEL_KIND,
    IntentClassifier,
    Scorer,
    features,
    normalize,
    pipeline,
)

log = logging.getLogger("sincro.assistant.model_cache")

FILE_NAME = "assistant-intent-model.npz"
#: Bumped when what the file holds, or how the scorer reads it, changes.
FORMAT = 1


def cache_key(
    examples: Sequence[tuple[str, str]], kind: str = MODEL_KIND, c: float = MODEL_C
) -> str:
    """What the fitted model depends on, hashed: the training data as the model sees it, the
    pipeline's parameters (estimators are expanded by ``get_params(deep=True)``), this file
    format and the library versions."""
    import numpy
    import sklearn

    params = {
        name: repr(value)
        for name, value in pipeline(kind, c).get_params(deep=True).items()
        if not hasattr(value, "get_params") and not isinstance(value, list)
    }
    digest = hashlib.sha256()
    head = {
        "format": FORMAT,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
        "params": params,
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for text, intent in examples:
        digest.update(f"{normalize(text)}\t{intent}\n".encode())
    return digest.hexdigest()


def _arrays(key: str, model: IntentClassifier) -> dict[str, Any] | None:
    import numpy as np

    scorer = model.scorer
    if scorer is None:
        return None
    out: dict[str, Any] = {
        "key": np.array(key),
        "classes": np.array(model.classes),
        "intercept": scorer.intercept,
        "slope": scorer.slope,
        "offset": scorer.offset,
    }
    for number, (_, vocabulary, idf, weights) in enumerate(scorer.blocks):
        terms = [""] * len(vocabulary)
        for term, index in vocabulary.items():
            terms[index] = term
        if any(not term or term.endswith("\x00") for term in terms):
            return None  # NumPy's strings drop trailing NULs: such a vocabulary is not kept
        out[f"terms{number}"] = np.array(terms)
        out[f"idf{number}"] = idf
        out[f"weights{number}"] = weights
    return out


def _scorer(arrays: Any) -> tuple[tuple[str, ...], Scorer]:
    """The classes and scorer of a file's arrays; ValueError when they do not fit together."""
    import numpy as np

    classes = tuple(str(c) for c in arrays["classes"].tolist())
    n = len(classes)
    if n < 3 or len(set(classes)) != n or not set(classes) <= set(INTENTS):
        raise ValueError("classes")
    vectors = {
        name: np.asarray(arrays[name], dtype=np.float64)
        for name in ("intercept", "slope", "offset")
    }
    analyzers = [vectorizer.build_analyzer() for _, vectorizer in features().transformer_list]
    blocks = []
    for number, analyze in enumerate(analyzers):
        terms = [str(t) for t in arrays[f"terms{number}"].tolist()]
        vocabulary = {term: index for index, term in enumerate(terms)}
        idf = np.asarray(arrays[f"idf{number}"], dtype=np.float64)
        weights = np.ascontiguousarray(arrays[f"weights{number}"], dtype=np.float64)
        if len(vocabulary) != len(terms) or idf.shape != (len(terms),):
            raise ValueError(f"terms{number}")
        if weights.shape != (len(terms), n):
            raise ValueError(f"weights{number}")
        blocks.append((analyze, vocabulary, idf, weights))
    if f"terms{len(analyzers)}" in arrays:
        raise ValueError("blocks")
    arrays_all = [*vectors.values(), *(b[2] for b in blocks), *(b[3] for b in blocks)]
    if any(v.shape != (n,) for v in vectors.values()) or not all(
        np.isfinite(a).all() for a in arrays_all
    ):
        raise ValueError("values")
    return classes, Scorer(blocks, vectors["intercept"], vectors["slope"], vectors["offset"])


def load(path: Path, key: str) -> tuple[tuple[str, ...], Scorer] | None:
    """The cached classes and scorer when the file exists, reads cleanly and has this key."""
    import numpy as np

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if str(arrays["key"]) != key:
                log.info("assistant model cache %s is for other data or versions", path)
                return None
            return _scorer(arrays)
    except Exception as exc:  # any damage means: train again, replace it
        log.warning("assistant model cache %s ignored: %s", path, type(exc).__name__)
        return None


def save(path: Path, key: str, model: IntentClassifier) -> bool:
    """Write the model's scorer under ``key``, atomically (a temporary file renamed)."""
    import numpy as np

    arrays = _arrays(key, model)
    if arrays is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def load_or_train(
    examples: Sequence[tuple[str, str]],
    directory: Path,
    kind: str = MODEL_KIND,
    c: float = MODEL_C,
) -> IntentClassifier:
    """The model of ``examples``: loaded from ``directory`` when its cache matches, else trained
    and cached there (a failure to write is logged; the trained model is used)."""
    path = directory / FILE_NAME
    key = cache_key(examples, kind, c)
    loaded = load(path, key)
    if loaded is not None:
        return IntentClassifier(examples, kind, c, loaded=loaded)
    model = IntentClassifier(examples, kind, c)
    try:
        save(path, key, model)
    except OSError as exc:
        log.warning("assistant model cache %s not written: %s", path, exc)
    return model
