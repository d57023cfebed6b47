"""The intent classifier: TF-IDF over character (char_wb 2–5) and word (1–2) n-grams of the
normalized text, and a linear model with calibrated probabilities, trained from
``data/train.tsv`` at first use (no model file is committed or downloaded; training is
deterministic and takes about a second).

The model family was chosen by cross-validation on the training set only
(``bench/assistant_nlu.py --select``); the held-out ``data/test.tsv`` is for evaluation."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
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


class IntentClassifier:
    """A trained pipeline; ``predict`` is safe from many threads (scikit-learn's predict
    does not mutate the fitted estimators)."""

    def __init__(
        self, examples: Sequence[tuple[str, str]], kind: str = MODEL_KIND, c: float = MODEL_C
    ) -> None:
        texts = [normalize(text) for text, _ in examples]
        labels = [intent for _, intent in examples]
        self.pipeline = pipeline(kind, c).fit(texts, labels)
        self.classes: tuple[str, ...] = tuple(self.pipeline.classes_)

    def predict_many(self, texts: Iterable[str]) -> list[Prediction]:
        normalized = [normalize(text) for text in texts]
        if not normalized:
            return []
        probabilities = self.pipeline.predict_proba(normalized)
        out = []
        for row in probabilities:
            best = int(row.argmax())
            out.append(Prediction(self.classes[best], float(row[best])))
        return out

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]


_lock = threading.Lock()


@cache
def _trained() -> IntentClassifier:
    return IntentClassifier(read_examples(DATA / "train.tsv"))


def classifier() -> IntentClassifier:
    """The process's classifier, trained once on first use (threads wait for one training)."""
    with _lock:
        return _trained()
