"""A second reader for adverse events: a small linear model learned from labelled HCP texts.

The rules of :mod:`portal.safety.shape` read the parts of a report; they miss what no
vocabulary names ("it isn't touching her symptoms", "hair coming out in clumps on the
pillow", "waterworks gone funny since the 0ncora"). This model reads the same text as
character and word n-grams weighed by a logistic regression trained on the ``dev`` split of
``bench/ae_corpus`` (never on ``test``), and flags a text the rules let through when its
score reaches the model's threshold. Where the rules' only reason is the shape of a report and
the model is nearly sure there is none (a score under ``veto``), the flag is taken back; the
safety officer's phrases always flag (:func:`portal.safety.detection.detect_adverse_event`).

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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from portal.safety.shape import clean

MODEL_FILE = Path(__file__).with_name("model") / "ae_model.json.gz"
CHAR_SIZES = (3, 5)  # character n-grams inside word boundaries, 3 to 5 long
WORD_SIZES = (1, 2)  # words and pairs of words
# Fewer words than this give the model too little to weigh ("Good morning", "ok 👍"): such
# texts are the rules' alone, neither flagged nor taken back by the model.
MIN_WORDS = 4

_WORD_RE = re.compile(r"(?u)\b\w\w+\b")


def prepared(text: str) -> str:
    """The text as the model reads it: invisible characters gone, emoji read as words,
    case and accents folded ("Übelkeit", "ubelkeit" and "UEBELKEIT" come close)."""
    folded = clean(text).casefold()
    if folded.isascii():  # nothing to decompose (most texts): NFKD would return it unchanged
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _word_char_grams(word: str) -> list[str]:
    padded = f" {word} "
    length = len(padded)
    low, high = CHAR_SIZES
    grams: list[str] = []
    for n in range(low, high + 1):
        offset = 0
        grams.append(padded[:n])
        while offset + n < length:
            offset += 1
            grams.append(padded[offset : offset + n])
        if offset == 0:  # a word shorter than n is counted once
            break
    return grams


def _char_grams_of(ready: str) -> list[str]:
    return [gram for word in ready.split() for gram in _word_char_grams(word)]


def _word_grams_of(ready: str) -> list[str]:
    words = _WORD_RE.findall(ready)
    low, high = WORD_SIZES
    grams = list(words) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


def char_grams(text: str) -> list[str]:
    """Character n-grams of each word padded with a space (scikit-learn's ``char_wb``)."""
    return _char_grams_of(prepared(text))


def word_grams(text: str) -> list[str]:
    """Words of two letters or more, and each pair of neighbouring words."""
    return _word_grams_of(prepared(text))


ANALYZERS = {"char": char_grams, "word": word_grams}
WORD_CACHE = 65_536  # prepared words whose known character n-grams are kept (a few MB at most)


@dataclass(frozen=True)
class Model:
    """Per analyzer, each known n-gram's inverse document frequency and weight."""

    features: dict[str, dict[str, tuple[float, float]]]
    intercept: float
    threshold: float  # a score from which the model flags a text
    veto: float  # a score under which a flag resting on the shape alone is taken back
    texts: int  # how many labelled texts it was learned from

    # Each word's known character n-grams, in order: words repeat from text to text, so most
    # texts cost a few dictionary lookups instead of a few hundred slices. Bounded.
    _known_char_grams: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def reads(self, text: str) -> bool:
        """Whether the text is long enough for the model to weigh (:data:`MIN_WORDS`)."""
        return len(_WORD_RE.findall(prepared(text))) >= MIN_WORDS

    def score(self, text: str) -> float:
        """The probability the model gives that ``text`` describes an adverse event."""
        return self._score(prepared(text))

    def weigh(self, text: str) -> float | None:
        """:meth:`score` when the model :meth:`reads` the text, else None (one preparation)."""
        ready = prepared(text)
        if len(_WORD_RE.findall(ready)) < MIN_WORDS:
            return None
        return self._score(ready)

    def _score(self, ready: str) -> float:
        # The terms are added in the order of each n-gram's first occurrence, as scikit-learn's
        # vectorizer and the plain reading do, so the score is the same to the last bit.
        total = self.intercept
        words = self.features["word"]
        for known, grams in (
            (self.features["char"], self._char_grams(ready)),  # known ones only, from the cache
            (words, [g for g in _word_grams_of(ready) if g in words]),
        ):
            dot = 0.0
            square = 0.0
            for gram, count in Counter(grams).items():
                idf, weight = known[gram]
                value = idf if count == 1 else (1.0 + math.log(count)) * idf  # (1 + log 1) = 1
                square += value * value
                dot += value * weight
            if square:
                total += dot / math.sqrt(square)
        return 1.0 / (1.0 + math.exp(-total))

    def _char_grams(self, ready: str) -> list[str]:
        cache = self._known_char_grams
        known = self.features["char"]
        grams: list[str] = []
        for word in ready.split():
            found = cache.get(word)
            if found is None:
                if len(cache) >= WORD_CACHE:
                    cache.clear()
                found = cache[word] = tuple(g for g in _word_char_grams(word) if g in known)
            grams.extend(found)
        return grams

    def strongest_words(self, text: str) -> str:
        """The writer's own word, or two neighbouring words, that weigh most towards a report
        (shown to PV as the reason); the start of the text when none does."""
        known = self.features["word"]
        found = [(m.start(), m.end(), prepared(m.group())) for m in _WORD_RE.finditer(text)]
        best, best_weight = "", 0.0
        for i, (start, end, word) in enumerate(found):
            spans = [(end, word)]
            if i + 1 < len(found):
                spans.append((found[i + 1][1], f"{word} {found[i + 1][2]}"))
            for stop, gram in spans:
                weight = known.get(gram, (0.0, 0.0))[1]
                if len(gram) >= 4 and weight > best_weight:
                    best, best_weight = text[start:stop], weight
        return best or text.strip()[:40]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Model:
        """A model from the JSON ``bench/ae_train.py`` writes."""
        return cls(
            features={
                name: {gram: (idf, weight) for gram, idf, weight in data["features"][name]}
                for name in ANALYZERS
            },
            intercept=data["intercept"],
            threshold=data["threshold"],
            veto=data["veto"],
            texts=data["texts"],
        )


@lru_cache(maxsize=1)
def model() -> Model:
    """The shipped model, read once per process."""
    with gzip.open(MODEL_FILE, "rt", encoding="utf-8") as stream:
        return Model.from_data(json.load(stream))
