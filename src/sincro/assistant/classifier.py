"""The intent classifier: TF-IDF over character (char_wb 2–5) and word (1–2) n-grams of the
normalized text, and a linear model with calibrated probabilities, trained from
``data/train.tsv`` at first use (no model file is committed or downloaded; training is
deterministic and takes about a second). Predictions go through :class:`Scorer`, the fitted
pipeline's probabilities computed from its parts without scikit-learn's per-call overhead.

The model family was chosen by cross-validation on the training set only
(``bench/assistant_nlu.py --select``); the held-out ``data/test.tsv`` is for evaluation."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sincro.text_pt import fold

DATA = Path(__file__).resolve().parent / "data"

#: The intents, with exactly these names (the API returns them).
INTENTS: tuple[str, ...] = (
    "saudacao", "despedida", "segunda_via_fatura", "consultar_debito",
    "disponibilidade_produto", "loja_proxima", "status_pedido", "informacao_produto",
    "planos_ofertas", "cancelamento", "suporte_tecnico", "reclamacao", "falar_com_atendente",
    "cadastro", "privacidade", "fora_do_escopo",
)  # fmt: skip

#: How people write → the word the model sees (after folding accents and case).
ABBREVIATIONS: dict[str, str] = {
    "vc": "voce", "vcs": "voces", "voc": "voce", "pq": "porque", "q": "que", "oq": "o que",
    "tb": "tambem", "tbm": "tambem", "qro": "quero", "qr": "quero", "blz": "beleza",
    "vlw": "valeu", "vlww": "valeu", "flw": "falou", "obg": "obrigado", "obgd": "obrigado",
    "obrigada": "obrigado", "brigado": "obrigado", "brigada": "obrigado", "pfv": "por favor",
    "pfvr": "por favor", "pf": "por favor", "plz": "por favor", "td": "tudo", "hj": "hoje",
    "mt": "muito", "mto": "muito", "n": "nao", "ñ": "nao", "naum": "nao", "qnto": "quanto",
    "qnt": "quanto", "qto": "quanto", "qdo": "quando", "qd": "quando", "kd": "cade",
    "cadê": "cade", "msg": "mensagem", "net": "internet", "cel": "celular", "tel": "telefone",
    "num": "numero", "ngm": "ninguem", "nd": "nada", "ctz": "certeza", "eh": "e",
    "pra": "para", "pro": "para o", "p": "para", "tmj": "valeu", "bjs": "beijos",
    "atd": "atendimento", "2a": "segunda", "2": "dois", "fatur": "fatura",
    "oie": "oi", "oii": "oi", "eae": "e ai",
    "eai": "e ai", "wpp": "whatsapp", "zap": "whatsapp", "whats": "whatsapp",
}  # fmt: skip

_TOKEN_RE = re.compile(r"[0-9a-z]+|[^\s0-9a-z]", re.IGNORECASE)
_LONG_NUMBER_RE = re.compile(r"\d[\d.\-/]{3,}\d")
_REPEATS_RE = re.compile(r"([a-z])\1{2,}")


def normalize(text: str) -> str:
    """The text as the model sees it: folded (no accents, lower case), long numbers (CPF,
    orders, invoices) as the word "numero", letters repeated 3+ times once ("oiii" -> "oi"),
    and the abbreviation table applied word by word."""
    folded = fold(text)
    folded = _LONG_NUMBER_RE.sub(" numero ", folded)
    folded = _REPEATS_RE.sub(r"\1", folded)
    tokens = [ABBREVIATIONS.get(token, token) for token in _TOKEN_RE.findall(folded)]
    return " ".join(tokens)


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) of a ``text<TAB>intent`` file; ``#`` lines are comments."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        text, sep, intent = line.rpartition("\t")
        if not sep or intent not in INTENTS:
            raise ValueError(f"{path.name}:{number}: expected text<TAB>intent, got {line!r}")
        rows.append((text, intent))
    return rows


def features() -> Any:
    """The TF-IDF union: character n-grams inside word bounds (2–5, robust to typos) and word
    unigrams and bigrams."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    words = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+"
    )
    return FeatureUnion([("chars", chars), ("words", words)])


def estimator(kind: str = "svm", c: float = 1.0) -> Any:
    """The linear model: "svm" (LinearSVC, probabilities calibrated by sigmoid (Platt) on the
    out-of-fold decisions of 3 stratified folds, then one SVM fitted on everything) or
    "logreg" (multinomial logistic regression).

    One SVM, not the three-fold ensemble scikit-learn keeps by default (``ensemble=False``):
    the same macro F1 on the held-out set (0.936 vs 0.933) at half the cost per message
    (3.0 vs 5.9 ms), which was a quarter of the api's CPU per chat message under load."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if kind == "svm":
        return CalibratedClassifierCV(
            LinearSVC(C=c, random_state=0), cv=3, method="sigmoid", ensemble=False
        )
    return LogisticRegression(C=c, max_iter=2000, random_state=0)


#: The model chosen by 5-fold cross-validation on the training set (``bench/assistant_nlu.py
#: --select``; figures in docs/benchmarks.md): calibrated LinearSVC, C=3.
MODEL_KIND = "svm"
MODEL_C = 3.0


def pipeline(kind: str = MODEL_KIND, c: float = MODEL_C) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", features()), ("model", estimator(kind, c))])


@dataclass(frozen=True, slots=True)
class Prediction:
    intent: str
    confidence: float


class Scorer:
    """The trained pipeline's ``predict_proba`` for one text, without scikit-learn's per-call
    machinery (input validation, sparse matrices, the pipeline's and the union's steps, one
    calibrator call per class), which cost milliseconds for a message of a few words.

    Built from the fitted pipeline when it is trained, from its own parts: each vectorizer's
    analyzer (``build_analyzer``, the very function ``transform`` runs), vocabulary and idf,
    its rows of the SVM's coefficients, the SVM's intercepts and the sigmoid calibrators'
    ``a``/``b`` in the calibrated classifier's class order. ``probabilities`` computes what
    scikit-learn computes, in the same order: term counts, ``1 + log(tf)``, times idf, l2
    normalized per vectorizer, the decision values, ``expit(-(a·f + b))`` per class, divided
    by their sum (uniform if it is 0), values in (1, 1 + 1e-5] set to 1. Only floating-point
    summation order differs (tests compare with ``predict_proba`` on every training and
    held-out text to 1e-9). A pipeline of another shape is refused (:meth:`of` returns
    None) and predicted by scikit-learn."""

    __slots__ = ("blocks", "intercept", "n_classes", "offset", "slope")

    def __init__(
        self,
        blocks: list[tuple[Callable[[str], list[str]], dict[str, int], Any, Any]],
        intercept: Any,
        slope: Any,
        offset: Any,
    ) -> None:
        self.blocks = blocks  # (analyze, vocabulary, idf, weights: terms × classes)
        self.intercept = intercept
        self.slope = slope
        self.offset = offset
        self.n_classes = len(slope)

    @classmethod
    def of(cls, fitted: Any) -> Scorer | None:
        """The scorer of a fitted ``pipeline()``, or None when it is not the shape this class
        reproduces (TF-IDF vectorizers with sublinear tf, idf and l2 norm, unweighted, into one
        sigmoid-calibrated linear model of three classes or more)."""
        import numpy as np
        from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        union, model = fitted.named_steps["features"], fitted.named_steps["model"]
        if not isinstance(union, FeatureUnion) or union.transformer_weights is not None:
            return None
        if not isinstance(model, CalibratedClassifierCV) or len(model.calibrated_classifiers_) != 1:
            return None
        calibrated = model.calibrated_classifiers_[0]
        svm = calibrated.estimator
        n_classes = len(model.classes_)
        if (
            calibrated.method != "sigmoid"
            or n_classes < 3
            or not all(isinstance(c, _SigmoidCalibration) for c in calibrated.calibrators)
            or list(svm.classes_) != list(model.classes_)  # the calibrators' order is the model's
            or getattr(svm, "coef_", None) is None
            or svm.coef_.shape[0] != n_classes
        ):
            return None
        blocks = []
        start = 0
        for _, vectorizer in union.transformer_list:
            if not (
                isinstance(vectorizer, TfidfVectorizer)
                and vectorizer.norm == "l2"
                and vectorizer.use_idf
                and vectorizer.sublinear_tf
                and not vectorizer.binary
                and vectorizer.dtype is np.float64
            ):
                return None
            size = len(vectorizer.vocabulary_)
            weights = np.ascontiguousarray(svm.coef_[:, start : start + size].T, dtype=np.float64)
            blocks.append(
                (
                    vectorizer.build_analyzer(),
                    dict(vectorizer.vocabulary_),
                    vectorizer.idf_.copy(),
                    weights,
                )
            )
            start += size
        if start != svm.coef_.shape[1]:
            return None
        slope = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64)
        offset = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64)
        return cls(blocks, np.asarray(svm.intercept_, dtype=np.float64).copy(), slope, offset)

    def probabilities(self, normalized: str) -> Any:
        """The calibrated probability of each class (the model's order) for one normalized
        text, as ``predict_proba`` gives it."""
        import numpy as np
        from scipy.special import expit

        decision = self.intercept.copy()
        for analyze, vocabulary, idf, weights in self.blocks:
            counts: dict[int, int] = {}
            for term in analyze(normalized):
                index = vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            np.log(values, out=values)
            values += 1.0
            values *= idf[indices]
            norm = np.sqrt(np.dot(values, values))
            if norm != 0:
                values /= norm
            decision += values @ weights[indices]
        probability = expit(-(self.slope * decision + self.offset))
        total = probability.sum()
        if total == 0:
            return np.full(self.n_classes, 1 / self.n_classes)
        probability /= total
        probability[(probability > 1.0) & (probability <= 1.0 + 1e-5)] = 1.0
        return probability


class IntentClassifier:
    """A trained pipeline; ``predict`` is safe from many threads (neither the scorer nor
    scikit-learn's predict mutates what training built).

    Predictions go through :class:`Scorer` (the pipeline's probabilities at a fraction of
    the cost per message); ``pipeline`` stays for evaluation and for the tests that hold the
    two equal. A model ``loaded`` from the cache (:mod:`sincro.assistant.model_cache`: its
    classes and scorer) is not trained (``trained`` is False); its ``pipeline`` is fitted
    from the same examples only if something asks for it."""

    def __init__(
        self,
        examples: Sequence[tuple[str, str]],
        kind: str = MODEL_KIND,
        c: float = MODEL_C,
        *,
        loaded: tuple[tuple[str, ...], Scorer] | None = None,
    ) -> None:
        self.examples = list(examples)
        self.kind, self.c = kind, c
        self._pipeline: Any = None
        self._fit_lock = threading.Lock()
        self.trained = loaded is None
        self.classes: tuple[str, ...]
        self.scorer: Scorer | None
        if loaded is None:
            self.classes = tuple(self.pipeline.classes_)
            self.scorer = Scorer.of(self.pipeline)
        else:
            self.classes, self.scorer = loaded

    @property
    def pipeline(self) -> Any:
        """The fitted scikit-learn pipeline (fitted on first use for a loaded model)."""
        with self._fit_lock:
            if self._pipeline is None:
                texts = [normalize(text) for text, _ in self.examples]
                labels = [intent for _, intent in self.examples]
                self._pipeline = pipeline(self.kind, self.c).fit(texts, labels)
            return self._pipeline

    def probabilities(self, texts: Iterable[str]) -> Any:
        """The calibrated probabilities (rows: texts; columns: ``classes``) as predictions
        compute them."""
        import numpy as np

        normalized = [normalize(text) for text in texts]
        if self.scorer is None:
            return self.pipeline.predict_proba(normalized)
        rows = [self.scorer.probabilities(text) for text in normalized]
        return np.array(rows).reshape(len(rows), len(self.classes))

    def predict_many(self, texts: Iterable[str]) -> list[Prediction]:
        out = []
        for row in self.probabilities(texts):
            best = int(row.argmax())
            out.append(Prediction(self.classes[best], float(row[best])))
        return out

    def predict(self, text: str) -> Prediction:
        if self.scorer is None:
            return self.predict_many([text])[0]
        row = self.scorer.probabilities(normalize(text))
        best = int(row.argmax())
        return Prediction(self.classes[best], float(row[best]))


_lock = threading.Lock()
_cache_dir: Path | None = None


def use_cache(directory: Path | None) -> None:
    """Where the process's model is cached (the var dir; None: always train). Set by an api
    process at start, before its training thread; it matters only until the model exists."""
    global _cache_dir
    _cache_dir = directory


@cache
def _trained() -> IntentClassifier:
    examples = read_examples(DATA / "train.tsv")
    if _cache_dir is None:
        return IntentClassifier(examples)
    from sincro.assistant.model_cache import load_or_train

    return load_or_train(examples, _cache_dir)


def classifier() -> IntentClassifier:
    """The process's classifier, trained (or loaded from the cache) once on first use
    (threads wait for one)."""
    with _lock:
        return _trained()
