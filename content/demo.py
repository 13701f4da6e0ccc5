"""Demo materials: three products, every kind, every workflow state."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping

from sqlalchemy import func, select

from content import demo_media, files, services
from content.models import (
    Classification,
    EventKind,
    Material,
    MaterialEvent,
    MaterialKind,
    MaterialReview,
    MaterialStatus,
    ReviewDecision,
    audience_text,
)
from content.rendering import plain_text, render_markdown
from content.search import index_for
from portal import audit
from portal.extensions import db
from portal.models import Product, User, utcnow
from portal.services.demo import demo_email
from portal.unit_of_work import transactional

PRODUCT_TOPICS = {
    "CVX": {
        "name": "Cardiovex",
        "condition": "heart failure with reduced ejection fraction",
        "short": "HFrEF",
        "endpoint": "cardiovascular death or hospitalisation for heart failure",
        "dose": "10 mg once daily, titrated to 20 mg after two weeks",
        "monitoring": "potassium and renal function",
        "audience_specialties": ["Cardiology", "Internal medicine", "Family medicine"],
    },
    "ONC": {
        "name": "Oncora",
        "condition": "EGFR-mutated non-small cell lung cancer",
        "short": "NSCLC",
        "endpoint": "progression-free survival",
        "dose": "150 mg orally once daily until progression",
        "monitoring": "liver enzymes and interstitial lung disease symptoms",
        "audience_specialties": ["Oncology", "Pulmonology", "Hospital pharmacy"],
    },
    "RSP": {
        "name": "Respira",
        "condition": "moderate to severe persistent asthma",
        "short": "asthma",
        "endpoint": "annualised rate of severe exacerbations",
        "dose": "two inhalations of 100 micrograms twice daily",
        "monitoring": "inhaler technique and oral candidiasis",
        "audience_specialties": ["Pulmonology", "Allergy and immunology", "Family medicine"],
    },
}

# (kind, classification, title pattern, summary pattern)
TEMPLATES = [
    (
        MaterialKind.ARTICLE,
        Classification.PROMOTIONAL,
        "{name} at a glance",
        "What {name} is for, who it helps and how it works in {condition}.",
    ),
    (
        MaterialKind.STUDY_SUMMARY,
        Classification.MEDICAL,
        "Pivotal phase 3 trial of {name} in {short}",
        "Design, population and results of the pivotal trial: {endpoint}.",
    ),
    (
        MaterialKind.STUDY_SUMMARY,
        Classification.MEDICAL,
        "Long-term extension study: {name} safety over 3 years",
        "Adverse events, discontinuations and laboratory findings over three years of treatment.",
    ),
    (
        MaterialKind.DOSING_GUIDE,
        Classification.PROMOTIONAL,
        "{name} dosing and administration guide",
        "Starting dose, titration, missed doses and dose adjustments: {dose}.",
    ),
    (
        MaterialKind.DOSING_GUIDE,
        Classification.MEDICAL,
        "{name} in renal and hepatic impairment",
        "Pharmacokinetics and dose considerations in organ impairment.",
    ),
    (
        MaterialKind.SLIDE_DECK,
        Classification.MEDICAL,
        "Mechanism of action of {name}",
        "Slides on the pharmacology of {name} for scientific exchange.",
    ),
    (
        MaterialKind.SLIDE_DECK,
        Classification.PROMOTIONAL,
        "Treating {short}: the role of {name}",
        "Approved presentation for peer-to-peer programmes.",
    ),
    (
        MaterialKind.VIDEO,
        Classification.PROMOTIONAL,
        "Video: starting a patient on {name}",
        "A five-minute walkthrough of the first visit, counselling points and follow-up.",
    ),
    (
        MaterialKind.PATIENT_LEAFLET,
        Classification.PROMOTIONAL,
        "Patient leaflet: living with {short} on {name}",
        "Plain-language leaflet to hand to patients starting {name}.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.MEDICAL,
        "Managing side effects of {name}",
        "Frequency, onset and management of the most common adverse reactions; "
        "monitoring of {monitoring}.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.PROMOTIONAL,
        "Coverage and patient support for {name}",
        "Prior authorisation, co-pay support and how to enrol patients in the support programme.",
    ),
    (
        MaterialKind.STUDY_SUMMARY,
        Classification.MEDICAL,
        "Real-world evidence with {name} in {short}",
        "Registry data on effectiveness and persistence in routine practice.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.MEDICAL,
        "Drug interactions with {name}",
        "Clinically relevant interactions and what to do about them.",
    ),
    (
        MaterialKind.DOSING_GUIDE,
        Classification.PROMOTIONAL,
        "{name} in older adults: dosing checklist",
        "A one-page checklist for prescribing to patients over 75.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.PROMOTIONAL,
        "Frequently asked questions about {name}",
        "Answers to the questions prescribers ask most about {name}.",
    ),
    (
        MaterialKind.STUDY_SUMMARY,
        Classification.MEDICAL,
        "Subgroup analyses of the {name} pivotal trial",
        "Consistency of effect across age, sex, region and baseline severity.",
    ),
    (
        MaterialKind.VIDEO,
        Classification.MEDICAL,
        "Expert round table: {short} treatment sequencing",
        "Recorded discussion between specialists on where {name} fits.",
    ),
    (
        MaterialKind.PATIENT_LEAFLET,
        Classification.PROMOTIONAL,
        "Patient diary for {name} treatment",
        "A diary for patients to record doses, symptoms and questions for their next visit.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.MEDICAL,
        "Pregnancy and breastfeeding: {name}",
        "What is known about exposure during pregnancy and lactation, and how to report it.",
    ),
    (
        MaterialKind.SLIDE_DECK,
        Classification.MEDICAL,
        "Health economics of {name}",
        "Budget impact and cost-effectiveness analyses for formulary committees.",
    ),
    (
        MaterialKind.ARTICLE,
        Classification.PROMOTIONAL,
        "Switching patients to {name}",
        "Practical steps for switching from other therapies, with washout guidance.",
    ),
    (
        MaterialKind.DOSING_GUIDE,
        Classification.MEDICAL,
        "{name} overdose and missed dose management",
        "What to do after an overdose or a missed dose, for healthcare professionals.",
    ),
]


def _body(topic: Mapping[str, object], title: str, kind: MaterialKind) -> str:
    name, condition, dose = topic["name"], topic["condition"], topic["dose"]
    parts = [
        f"## Overview\n\n{title} summarises approved information about **{name}** for "
        f"healthcare professionals treating {condition}.",
        f"## Key points\n\n- Recommended dose: {dose}.\n- Monitor {topic['monitoring']}.\n"
        f"- Primary endpoint of the pivotal programme: {topic['endpoint']}.\n"
        "- Report suspected adverse reactions to Pharmacovigilance through the portal.",
    ]
    if kind is MaterialKind.DOSING_GUIDE:
        parts.append(
            "## Dose adjustments\n\n| Situation | Adjustment |\n|---|---|\n"
            "| Mild impairment | None |\n| Moderate impairment | Halve the dose |\n"
            "| Severe impairment | Not recommended |"
        )
    if kind is MaterialKind.STUDY_SUMMARY:
        parts.append(
            "## Results\n\nThe trial met its primary endpoint with a clinically meaningful and "
            "statistically significant reduction versus placebo. Safety was consistent with the "
            "known profile; the most common adverse reactions were mild and transient."
        )
    parts.append("See the full prescribing information for contraindications and warnings.")
    return "\n\n".join(parts)


# Index in TEMPLATES -> a state that is not simply "published".
SPECIAL_STATES = {
    2: "draft",
    5: "in_review",
    9: "scheduled",
    12: "expired",
    16: "in_review",
    19: "draft",
}


def _attach_file(material: Material, topic: Mapping[str, object]) -> None:
    """Give a demo slide deck a PDF and a demo video an MP4 (drawn now, see
    :mod:`content.demo_media`), stored and thumbnailed as an upload would be."""
    if material.kind is MaterialKind.SLIDE_DECK:
        data: bytes | None = demo_media.slide_deck_pdf(
            material.title,
            [
                f"Indication: {topic['condition']}.",
                f"Primary endpoint: {topic['endpoint']}.",
                f"Dosing: {topic['dose']}; monitor {topic['monitoring']}.",
            ],
        )
        filename = "slides.pdf"
    else:
        data = demo_media.video_mp4(material.title)
        filename = "video.mp4"
    if data is None:  # no video encoder here: the material keeps its generated card
        return
    services.attach_file(material, files.store_upload(io.BytesIO(data), filename))


@transactional
def seed_materials() -> str | None:
    """At least 60 materials across the demo products, every workflow state represented
    (drafts, in review, scheduled, published, expired, one withdrawn, one with two versions), in
    one unit of work. Audits ``material.created`` (system actor) for each."""
    if db.session.scalar(select(func.count()).select_from(Material)):
        return None
    author = db.session.scalar(select(User).where(User.email == demo_email("content")))
    reviewer = db.session.scalar(select(User).where(User.email == demo_email("reviewer")))
    if author is None or reviewer is None:
        return None
    products = {p.code: p for p in db.session.scalars(select(Product))}
    now = utcnow().replace(microsecond=0)
    index = index_for(db.session)
    created: list[Material] = []
    serial = 0
    for code, topic in PRODUCT_TOPICS.items():
        product = products.get(code)
        if product is None:
            continue
        for position, (kind, classification, title_pattern, summary_pattern) in enumerate(
            TEMPLATES
        ):
            serial += 1
            title = title_pattern.format(**topic)
            body = _body(topic, title, kind)
            html_body = render_markdown(body)
            state = SPECIAL_STATES.get(position, "published")
            effective = now - dt.timedelta(days=300 - position * 11)
            expires = now + dt.timedelta(days=400 + position * 5)
            if state == "scheduled":
                effective = now + dt.timedelta(days=14)
            if state == "expired":
                effective, expires = now - dt.timedelta(days=500), now - dt.timedelta(days=3)
            if position == 7:
                expires = now + dt.timedelta(days=20)  # shows in "expiring within 30 days"
            material = Material(
                version=1,
                title=title,
                summary=summary_pattern.format(**topic),
                body_markdown=body,
                body_html=html_body,
                body_text=plain_text(html_body),
                product=product,
                therapeutic_area=product.therapeutic_area,
                kind=kind,
                classification=classification,
                approval_code=f"PRT-{'US' if position % 5 else 'EU'}-{serial:04d}",
                effective_at=effective,
                expires_at=expires,
                audience_specialties=audience_text(topic["audience_specialties"])
                if position % 4 == 1
                else "",
                audience_professions=audience_text(["physician", "pharmacist"])
                if kind is MaterialKind.DOSING_GUIDE
                else "",
                audience_countries=audience_text(["DE", "FR", "ES", "GB"])
                if position % 5 == 0 and position
                else "",
                status=MaterialStatus.DRAFT,
                author=author,
            )
            db.session.add(material)
            db.session.flush()
            material.family_id = material.id
            if kind in (MaterialKind.SLIDE_DECK, MaterialKind.VIDEO):
                _attach_file(material, topic)
            if state in ("published", "scheduled", "expired"):
                material.status = MaterialStatus.APPROVED
                material.submitted_at = effective - dt.timedelta(days=7)
                material.approved_at = effective - dt.timedelta(days=2)
                material.approved_by = reviewer
                db.session.add(
                    MaterialReview(
                        material=material, reviewer=reviewer, decision=ReviewDecision.APPROVED
                    )
                )
                index.add(db.session, material)
            elif state == "in_review":
                material.status = MaterialStatus.IN_REVIEW
                material.submitted_at = now - dt.timedelta(days=1)
            created.append(material)
    _withdraw_one(created, reviewer, now)
    _version_one(created, author, reviewer, now)
    _views(created, now)
    for material in created:
        audit.record(None, "material.created", material, code=material.code_label, source="demo")
    return f"{len(created)} demo materials loaded."


def _withdraw_one(created: list[Material], reviewer: User, now: dt.datetime) -> None:
    published = [
        m
        for m in created
        if m.status is MaterialStatus.APPROVED and m.effective_at <= now < m.expires_at
    ]
    victim = published[3]
    victim.status = MaterialStatus.WITHDRAWN
    victim.withdrawn_at = now - dt.timedelta(days=10)
    victim.withdrawn_by = reviewer
    victim.withdrawn_reason = (
        "Superseded label update: claims no longer consistent with the prescribing information."
    )
    index_for(db.session).remove(db.session, victim.id)


def _version_one(created: list[Material], author: User, reviewer: User, now: dt.datetime) -> None:
    """The first product's "at a glance" article exists in two versions: v1 retired, v2 live."""
    v1 = created[0]
    v1.status = MaterialStatus.RETIRED
    v1.retired_at = now - dt.timedelta(days=30)
    index_for(db.session).remove(db.session, v1.id)
    v2 = Material(
        family_id=v1.family_id,
        version=2,
        supersedes_id=v1.id,
        title=v1.title,
        summary=v1.summary + " Updated with the new indication.",
        body_markdown=v1.body_markdown
        + "\n\n## New in version 2\n\nUpdated after the latest label change.",
        product=v1.product,
        therapeutic_area=v1.therapeutic_area,
        kind=v1.kind,
        classification=v1.classification,
        approval_code=v1.approval_code,
        effective_at=now - dt.timedelta(days=30),
        expires_at=v1.expires_at,
        status=MaterialStatus.APPROVED,
        author=author,
        submitted_at=now - dt.timedelta(days=35),
        approved_at=now - dt.timedelta(days=31),
        approved_by=reviewer,
    )
    v2.body_html = render_markdown(v2.body_markdown)
    v2.body_text = plain_text(v2.body_html)
    db.session.add(v2)
    db.session.flush()
    db.session.add(MaterialReview(material=v2, reviewer=reviewer, decision=ReviewDecision.APPROVED))
    index_for(db.session).add(db.session, v2)
    created.append(v2)
    created.remove(v1)
    created.insert(0, v1)


def _views(created: list[Material], now: dt.datetime) -> None:
    """Peers' views make recommendations meaningful: other HCPs opened a few materials."""
    peers = db.session.scalars(
        select(User).where(
            User.email.in_([demo_email(w) for w in ("pharmacist", "np", "dr.garcia", "hcp2")])
        )
    ).all()
    live = [
        m
        for m in created
        if m.status is MaterialStatus.APPROVED and m.effective_at <= now < m.expires_at
    ]
    for i, peer in enumerate(peers):
        for material in live[i::5][:6]:
            db.session.add(
                MaterialEvent(
                    material_id=material.id,
                    family_id=material.family_id or material.id,
                    user_id=peer.id,
                    kind=EventKind.VIEW,
                    at=now - dt.timedelta(days=i + 1),
                )
            )
