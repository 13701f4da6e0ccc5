"""The second reader: a model learned from the dev corpus, beside the rules.

The texts here are written for these tests, not taken from ``bench/ae_corpus``; how well the
model does on texts nobody here wrote is what ``bench/ae.py`` and ``bench/ae_train.py --evaluate``
measure.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from portal.safety import learned
from portal.safety.detection import detect_adverse_event

PRODUCTS = ("Cardiovex", "Oncora", "Respira")
BENCH = Path(__file__).resolve().parents[3] / "bench"


def _trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ae_train", BENCH / "ae_train.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ae_train", module)
    spec.loader.exec_module(module)
    return module


def _sure(score: float) -> learned.Model:
    """A model that gives every text the same score (no n-gram known)."""
    logit = 40.0 if score >= 0.5 else -40.0
    return learned.Model({"char": {}, "word": {}}, logit, threshold=0.7, veto=0.1, texts=1)


# What no vocabulary names, told the way clinicians type: the rules let it through.
LAY_REPORTS = [
    ("en", "Mrs T's combs are full of hair every morning since she went on Oncora, in tears."),
    ("es", "A la señora le cuesta horrores subir las escaleras desde que toma Cardiovex."),
    ("es", "Desde la oncora el pelo se le cae a mechones, está muy afectada."),
    ("de", "Mit Respira keinerlei Besserung, braucht weiter täglich sein Notfallspray."),
]


@pytest.mark.parametrize(("lang", "text"), LAY_REPORTS)
def test_the_second_reader_flags_what_the_rules_let_through(lang, text):
    assert not detect_adverse_event(text, products=PRODUCTS, second_reader=False).flagged
    finding = detect_adverse_event(text, products=PRODUCTS)
    assert finding.flagged
    (hit,) = finding.hits
    assert hit.matched in text  # the writer's own words
    assert "model learned from" in hit.reason and "score 0." in hit.reason


@pytest.mark.parametrize(
    "text",
    [
        "Our clinic fridge broke down last night, the Cardiovex samples sat at 16C for 5h. Bin?",
        "Man with stage 4 CKD (eGFR 19) and gout flares: starting dose of Cardiovex?",
        "¿Se puede dar Oncora a un paciente con neuropatía diabética previa?",
        "Wer ist die neue MSL für Respira in Bayern?",
    ],
)
def test_questions_where_nothing_happened_stay_unflagged(text):
    assert not detect_adverse_event(text, products=PRODUCTS).flagged


def test_a_flag_on_the_shape_alone_is_taken_back_when_the_model_is_sure_there_is_none():
    shape_only = "Since we started her on Cardiovex she has had recurrent oral thrush."
    rules = detect_adverse_event(shape_only, products=PRODUCTS, second_reader=False)
    assert rules.flagged and all("told as something that happened" in h.reason for h in rules.hits)
    assert not detect_adverse_event(shape_only, products=PRODUCTS, reader=_sure(0.0)).flagged
    assert detect_adverse_event(shape_only, products=PRODUCTS, reader=_sure(1.0)).flagged


def test_the_safety_officers_phrases_are_never_taken_back():
    phrase = "She was hospitalised two days after her first dose."
    finding = detect_adverse_event(phrase, products=PRODUCTS, reader=_sure(0.0))
    assert finding.flagged
    assert any("told as something that happened" not in h.reason for h in finding.hits)


def test_a_text_the_rules_do_not_flag_is_flagged_only_from_the_threshold():
    text = "Who covers Respira in Lyon now?"
    assert not detect_adverse_event(text, products=PRODUCTS, reader=_sure(0.0)).flagged
    assert detect_adverse_event(text, products=PRODUCTS, reader=_sure(1.0)).flagged


def test_a_text_of_fewer_than_four_words_is_the_rules_alone():
    # "Good morning" is what chat is full of: a sure model does not flag it...
    for text in ("Good morning", "ok \U0001f44d", "Hola, ¿qué tal?", "see you Tuesday"):
        assert not detect_adverse_event(text, reader=_sure(1.0)).flagged
    # ...and a short report the rules flag is not taken back.
    assert detect_adverse_event(
        "Respira: oral thrush.", products=PRODUCTS, reader=_sure(0.0)
    ).flagged


def test_ordinary_chat_messages_are_not_flagged():
    for text in (
        "Good morning, hope you had a nice weekend",
        "Quick question about one of my patients",
        "Thanks, she is doing well on it, no complaints",
        "Buenos días, ¿le va bien una llamada mañana a las 10?",
        "Merci pour les brochures, bonne fin de semaine",
        "Danke, die Muster sind gestern angekommen",
    ):
        assert not detect_adverse_event(text, products=PRODUCTS).flagged, text


def test_the_model_reads_through_invisible_characters_case_and_accents():
    assert learned.word_grams("On\u200bCORA Übelkeit") == ["oncora", "ubelkeit", "oncora ubelkeit"]
    # a word padded with spaces; one shorter than the n-gram is counted once
    assert learned.char_grams("ab") == [" ab", "ab ", " ab "]


def test_scores_equal_scikit_learns_and_the_shipped_model_is_what_the_dev_corpus_trains():
    trainer = _trainer()
    rows = trainer.load()
    fitted = trainer.fit(rows)
    data = trainer.export(fitted, rows)
    texts = [r["text"] for r in rows[::15]]
    ours = learned.Model.from_data(data)
    for text, expected in zip(texts, fitted.predict_proba(texts)[:, 1], strict=True):
        assert ours.score(text) == pytest.approx(expected, abs=1e-6)
    shipped = learned.model()
    assert shipped.texts == len(rows)
    assert (shipped.threshold, shipped.veto) == (trainer.THRESHOLD, trainer.VETO)
    for name in learned.ANALYZERS:
        assert shipped.features[name].keys() == ours.features[name].keys()
    assert [shipped.score(t) for t in texts] == pytest.approx(
        [ours.score(t) for t in texts], abs=1e-4
    )


def _plain_score(model: learned.Model, text: str) -> float:
    """The model's score read the plain way: every n-gram of the text counted, then weighed."""
    total = model.intercept
    for name, analyzer in learned.ANALYZERS.items():
        known = model.features[name]
        weighed = [
            ((1.0 + math.log(count)) * known[gram][0], known[gram][1])
            for gram, count in Counter(analyzer(text)).items()
            if gram in known
        ]
        norm = math.sqrt(sum(value * value for value, _ in weighed))
        if norm:
            total += sum(value * weight for value, weight in weighed) / norm
    return 1.0 / (1.0 + math.exp(-total))


def test_the_fast_reading_gives_the_plain_reading_to_the_last_bit_cold_and_warm():
    with gzip.open(learned.MODEL_FILE, "rt", encoding="utf-8") as stream:
        model = learned.Model.from_data(json.load(stream))  # its own, empty word cache
    rows = _trainer().load()
    texts = [r["text"] for r in rows[::7]] + ["Übelkeit  seit   gestern", "x", "", "a\u200bb c"]
    for _ in range(2):  # the second pass reads every word from the model's cache
        for text in texts:
            assert model.score(text) == _plain_score(model, text), text
            expected = _plain_score(model, text) if model.reads(text) else None
            assert model.weigh(text) == expected, text
