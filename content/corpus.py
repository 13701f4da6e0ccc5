"""A synthetic medical library, fast: the materials the search benchmark (``bench/search.py``)
and ``flask seed-scale`` (:mod:`portal.services.scale`) write in bulk.

Zipf-distributed medical vocabulary, rare drug-like names, three products, every kind, audience
targeting, and some draft, in-review, withdrawn, retired, expired and not-yet-effective versions.
The rows are plain dicts for SQLAlchemy Core bulk inserts; nothing here touches the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

from content.models import Classification, MaterialKind, MaterialStatus, audience_text
from portal.models.reference import SPECIALTIES, Profession

BATCH = 2000
DAY = dt.timedelta(days=1)

# --- vocabulary ------------------------------------------------------------------------------
# The most frequent words of any English text lead the ranking, as in real material.
FUNCTION_WORDS = """the of and in to a with for is was were by on as at or be from this that
are patients not an these which than after during between both all more most other each""".split()

MEDICAL_WORDS = """patient dose dosing treatment therapy clinical study trial efficacy safety
adverse event events outcome outcomes response risk benefit placebo randomized controlled
cohort baseline
endpoint primary secondary analysis mortality morbidity survival progression remission relapse
hospitalization admission discharge infusion injection tablet capsule oral intravenous subcutaneous
daily weekly monthly regimen titration maintenance loading induction monotherapy combination
adjunctive first line second line refractory resistant naive elderly pediatric adult pregnancy
lactation renal hepatic cardiac pulmonary vascular impairment failure insufficiency function
clearance creatinine bilirubin albumin hemoglobin platelet neutrophil lymphocyte leukocyte glucose
insulin cholesterol triglyceride lipoprotein pressure systolic diastolic rate rhythm interval
ejection fraction stroke infarction angina ischemia thrombosis embolism bleeding hemorrhage
anticoagulation antiplatelet hypertension hypotension tachycardia bradycardia arrhythmia
fibrillation flutter heart failure cardiomyopathy valve stenosis regurgitation coronary artery
vein atherosclerosis plaque lesion tumor tumour carcinoma adenocarcinoma lymphoma leukemia
myeloma sarcoma melanoma metastasis metastatic stage grade biopsy histology pathology marker
biomarker mutation expression receptor antibody antigen inhibitor agonist antagonist blocker
kinase enzyme pathway signaling protein peptide molecule compound formulation bioavailability
absorption distribution metabolism excretion elimination half life concentration plasma serum
exposure pharmacokinetics pharmacodynamics interaction contraindication precaution warning
monitoring laboratory assessment evaluation screening diagnosis prognosis guideline
recommendation consensus evidence review meta analysis systematic observational retrospective
prospective registry real world population subgroup incidence prevalence rate ratio hazard
confidence interval significant statistically difference reduction increase improvement
decline change week month year visit follow up discontinuation withdrawal tolerability
nausea vomiting diarrhea constipation fatigue headache dizziness rash pruritus edema dyspnea
cough fever infection pneumonia sepsis neutropenia anemia thrombocytopenia hepatotoxicity
nephrotoxicity cardiotoxicity neuropathy myalgia arthralgia insomnia anxiety depression
asthma bronchitis emphysema fibrosis obstruction exacerbation inhaler nebulizer spirometry
airway bronchodilator corticosteroid steroid oxygen ventilation saturation exercise capacity
walking distance quality score scale questionnaire symptom symptoms burden cost access
reimbursement payer formulary label indication approval regulatory submission dossier
pharmacist physician nurse practitioner specialist general practice hospital clinic outpatient
inpatient emergency intensive care unit ward referral counselling adherence persistence
education training material leaflet brochure slide deck video summary poster abstract
congress symposium webinar module case report study design protocol amendment investigator
site enrollment recruitment eligibility inclusion exclusion criteria informed consent ethics
committee sponsor data monitoring board interim final results publication journal
""".split()

ROOTS = """cardi angi arteri ven hem hemat lymph splen hepat cholecyst pancreat gastr enter col
proct esophag nephr ren ur cyst prostat gynec hyster oophor mamm mast derm dermat onych trich
oste arthr chondr my tend neur encephal mening myel psych ophthalm ot rhin laryng pharyng
bronch pneum pulmon pleur thorac thyr adren endocrin immun aden carcin onc cyt erythr leuk
thromb fibr lip glyc path pharmac tox chem radi vas cephal crani spondyl sial stomat gloss
""".split()

SUFFIXES = """itis osis ology ologist ectomy otomy ostomy oscopy ogram ography algia emia oma
opathy plasty rrhea megaly genesis lysis trophy sclerosis stenosis penia philia cyte cytosis
""".split()

PREFIXES = """hyper hypo anti peri intra inter sub supra poly dys brady tachy endo exo neo pre post
""".split()

PREFIX_BASES = """tension glycemia kalemia natremia thyroidism lipidemia coagulation pyretic
biotic viral fungal inflammatory oxidant emetic convulsant depressant histamine platelet operative
natal menopausal cardial vascular cellular thoracic hepatic renal dermal venous muscular
arterial tracheal nasal pleural""".split()

# Rare words: drug-like names, a handful of materials each (trial drugs, compound codes).
RARE_SYLLABLES = "ab bel cor do fen gli ka lor mo ne pra qui ru so ta tri va vi xe ze".split()
RARE_SUFFIXES = """mab tinib zumab pril sartan statin gliptin parin vir olol azole cillin dronate
lukast tide plase""".split()


def vocabulary(rng: random.Random) -> list[str]:
    """About two thousand medical words in Zipf rank order: function words first, then everyday
    clinical words (some with plurals) mixed with rarer specialist terms that share roots."""
    everyday = list(MEDICAL_WORDS)
    everyday += [
        w + "s"
        for w in MEDICAL_WORDS
        if not w.endswith(("s", "y", "al", "ic", "ac", "ar", "ed", "ing", "ly", "ous", "ive", "nt"))
        and rng.random() < 0.5
    ]
    specialist = [r + s for r in ROOTS for s in rng.sample(SUFFIXES, 16)]
    specialist += [p + b for p in PREFIXES for b in rng.sample(PREFIX_BASES, 16)]
    keyed = [(rng.random(), w) for w in everyday] + [(0.3 + rng.random(), w) for w in specialist]
    seen = set(FUNCTION_WORDS)
    ranked = list(FUNCTION_WORDS)
    for _, word in sorted(keyed):
        if word not in seen and word.isascii() and word.isalpha() and len(word) > 2:
            seen.add(word)
            ranked.append(word)
    return ranked


def rare_names(rng: random.Random, count: int) -> list[str]:
    names = sorted(
        {
            a + b + c + s
            for a, b, c in itertools.product(RARE_SYLLABLES, repeat=3)
            for s in RARE_SUFFIXES
        }
    )
    return rng.sample(names, min(count, len(names)))


# --- corpus ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Corpus:
    """What the generator knows about what it wrote: document frequencies over indexed rows."""

    doc_freq: Counter[str]
    rare: list[str]
    vocab: list[str]
    indexed: int


class ZipfSampler:
    def __init__(self, words: list[str], exponent: float, rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        total = 0.0
        self.cumulative = []
        for rank in range(1, len(words) + 1):
            total += 1.0 / rank**exponent
            self.cumulative.append(total)

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=k)


def _sentence_case(words: list[str]) -> str:
    line = " ".join(words)
    return line[:1].upper() + line[1:]


def _audience(rng: random.Random) -> tuple[str, str, str]:
    professions = specialties = countries = ""
    if rng.random() < 0.12:
        professions = audience_text(rng.sample([p.value for p in Profession], rng.randint(1, 2)))
    if rng.random() < 0.12:
        picks = rng.sample(SPECIALTIES, rng.randint(1, 3))
        if rng.random() < 0.4:
            picks.append("Cardiology")
        specialties = audience_text(picks)
    if rng.random() < 0.10:
        countries = audience_text(
            rng.sample(["US", "GB", "DE", "FR", "ES", "CA"], rng.randint(1, 3))
        )
    return professions, specialties, countries


def _lifecycle(
    rng: random.Random, effective: dt.datetime, now: dt.datetime
) -> tuple[MaterialStatus, dt.datetime, dt.datetime]:
    """Status, effective and expiry dates; never within a day of ``now`` so that the check's
    clock and the service's clock agree."""
    roll = rng.random()
    expires = now + DAY * rng.randint(30, 900)
    if roll < 0.04:
        return MaterialStatus.DRAFT, effective, expires
    if roll < 0.06:
        return MaterialStatus.IN_REVIEW, effective, expires
    if roll < 0.09:
        return MaterialStatus.WITHDRAWN, effective, expires
    if roll < 0.10:
        return MaterialStatus.RETIRED, effective, expires
    if roll < 0.15:  # approved, but its expiry date has passed
        return MaterialStatus.APPROVED, effective, now - DAY * rng.randint(2, 200)
    if roll < 0.16:  # approved, not yet effective
        return MaterialStatus.APPROVED, now + DAY * rng.randint(2, 60), expires
    return MaterialStatus.APPROVED, effective, expires


def generate(
    n: int,
    seed: int,
    *,
    product_ids: list[tuple[int, str]],
    author_id: int,
    now: dt.datetime,
    first_id: int = 1,
    code_prefix: str = "BENCH",
    body_length: tuple[int, int] = (150, 300),
    batch_size: int = BATCH,
) -> tuple[Corpus, Iterator[list[dict[str, Any]]]]:
    """The corpus statistics (filled as batches are consumed) and the rows, in batches of
    ``batch_size``: ``n`` materials with ids from ``first_id`` (each its own family, version 1),
    approval codes ``<code_prefix>-0000001``..., bodies of ``body_length`` words (range)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    vocab = vocabulary(rng)
    rare = rare_names(rng, max(50, n // 5))
    sampler = ZipfSampler(vocab, 1.0, rng)
    corpus = Corpus(Counter(), rare, vocab, 0)
    kinds = list(MaterialKind)
    span = dt.timedelta(days=3 * 365)

    def rows() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for number in range(1, n + 1):
            material_id = first_id + number - 1
            title_words = sampler.draw(rng.randint(5, 10))
            summary_words = sampler.draw(rng.randint(15, 30))
            body_words = sampler.draw(rng.randint(*body_length))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                body_words.insert(rng.randrange(len(body_words)), rng.choice(rare))
            if rng.random() < 0.1:
                title_words.insert(rng.randrange(len(title_words)), rng.choice(rare))
            product_id, area = product_ids[number % len(product_ids)]
            title = _sentence_case(title_words)
            summary = _sentence_case(summary_words) + "."
            cut = sorted(rng.sample(range(20, len(body_words) - 20), 3))
            paragraphs = [
                _sentence_case(body_words[a:b]) + "."
                for a, b in itertools.pairwise([0, *cut, len(body_words)])
            ]
            # Newer ids are newer material, as in the live library.
            effective = now - span * (1 - number / n) - DAY * (1 + rng.random())
            status, effective, expires = _lifecycle(rng, effective, now)
            if status is MaterialStatus.APPROVED:
                corpus.doc_freq.update({*title_words, *summary_words, *body_words})
                corpus.indexed += 1
            professions, specialties, countries = _audience(rng)
            batch.append(
                {
                    "id": material_id,
                    "family_id": material_id,
                    "version": 1,
                    "title": title[:200],
                    "summary": summary,
                    "body_markdown": "\n\n".join(paragraphs),
                    "body_html": "".join(f"<p>{p}</p>\n" for p in paragraphs),
                    "body_text": "\n\n".join(paragraphs),
                    "product_id": product_id,
                    "therapeutic_area": area,
                    "kind": kinds[number % len(kinds)],
                    "classification": Classification.MEDICAL
                    if rng.random() < 0.7
                    else Classification.PROMOTIONAL,
                    "audience_professions": professions,
                    "audience_specialties": specialties,
                    "audience_countries": countries,
                    "approval_code": f"{code_prefix}-{number:07d}",
                    "effective_at": effective,
                    "expires_at": expires,
                    "status": status,
                    "author_id": author_id,
                    "created_at": effective - DAY * 20,
                    "updated_at": effective - DAY * 10,
                    "submitted_at": effective - DAY * 15
                    if status is not MaterialStatus.DRAFT
                    else None,
                    "approved_at": effective - DAY * 10
                    if status in (MaterialStatus.APPROVED, MaterialStatus.RETIRED)
                    else None,
                    "approved_by_id": None,
                    "withdrawn_at": now - DAY * 3 if status is MaterialStatus.WITHDRAWN else None,
                    "withdrawn_reason": "Benchmark" if status is MaterialStatus.WITHDRAWN else None,
                    "retired_at": now - DAY * 3 if status is MaterialStatus.RETIRED else None,
                }
            )
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    return corpus, rows()
