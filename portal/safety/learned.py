"""A second reader for adverse events: a small linear model learned from labelled HCP texts.

The rules of :mod:`portal.safety.shape` read the parts of a report; they miss what no
vocabulary names ("it isn't touching her symptoms", "hair coming out in clumps on the
pillow", "waterworks gone funny since the 0ncora"). This model reads the same text as
character and word n-grams weighed by a logistic regression trained on the ``dev`` split of
``bench/ae_corpus`` (never on ``test``), and flags a text the rules let through when its
score reaches the model's threshold. It only ever adds flags: detection errs on flagging.

The weights ship in ``model/ae_model.json.gz`` and are read here with the standard library
alone (no download, no numerical package at run time); ``bench/ae_train.py`` retrains them
with scikit-learn (a dev dependency) and says how the threshold was chosen. A test retrains and
checks that the shipped file is what the corpus gives, and that the scores here equal
scikit-learn's.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from portal.safety.shape import clean

MODEL_FILE = Path(__file__).with_name("model") / "ae_model.json.gz"
CHAR_SIZES = (3, 5)  # character n-grams inside word boundaries, 3 to 5 long
WORD_SIZES = (1, 2)  # words and pairs of words

_SPACES_RE = re.compile(r"\s\s+")
_WORD_RE = re.compile(r"(?u)\b\w\w+\b")


def prepared(text: str) -> str:
    """The text as the model reads it: invisible characters gone, emoji read as words,
    case and accents folded ("Übelkeit", "ubelkeit" and "UEBELKEIT" come close)."""
    decomposed = unicodedata.normalize("NFKD", clean(text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def char_grams(text: str) -> list[str]:
    """Character n-grams of each word padded with a space (scikit-learn's ``char_wb``)."""
    low, high = CHAR_SIZES
    grams: list[str] = []
    for word in _SPACES_RE.sub(" ", prepared(text)).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[:n])
            while offset + n < length:
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


def word_grams(text: str) -> list[str]:
    """Words of two letters or more, and each pair of neighbouring words."""
    words = _WORD_RE.findall(prepared(text))
    low, high = WORD_SIZES
    grams = list(words) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


ANALYZERS = {"char": char_grams, "word": word_grams}


@dataclass(frozen=True)
class Model:
    """Per analyzer, each known n-gram's inverse document frequency and weight."""

    features: dict[str, dict[str, tuple[float, float]]]
    intercept: float
    threshold: float
    texts: int  # how many labelled texts it was learned from

    def score(self, text: str) -> float:
        """The probability the model gives that ``text`` describes an adverse event."""
        total = self.intercept
        for name, analyzer in ANALYZERS.items():
            known = self.features[name]
            weighed = []
            for gram, count in Counter(analyzer(text)).items():
                if gram in known:
                    idf, weight = known[gram]
                    weighed.append(((1.0 + math.log(count)) * idf, weight))
            norm = math.sqrt(sum(value * value for value, _ in weighed))
            if norm:
                total += sum(value * weight for value, weight in weighed) / norm
        return 1.0 / (1.0 + math.exp(-total))

    def strongest_word(self, text: str) -> str:
        """The writer's own word that weighs most towards a report (shown to PV as the
        reason), or the start of the text when no word weighs towards one."""
        words = self.features["word"]
        best, best_weight = "", 0.0
        for match in _WORD_RE.finditer(text):
            feature = words.get(prepared(match.group()))
            if feature and feature[1] > best_weight:
                best, best_weight = match.group(), feature[1]
        return best or text.strip()[:40]


@lru_cache(maxsize=1)
def model() -> Model:
    """The shipped model, read once per process."""
    with gzip.open(MODEL_FILE, "rt", encoding="utf-8") as stream:
        data = json.load(stream)
    return Model(
        features={
            name: {gram: (idf, weight) for gram, idf, weight in data["features"][name]}
            for name in ANALYZERS
        },
        intercept=data["intercept"],
        threshold=data["threshold"],
        texts=data["texts"],
    )
