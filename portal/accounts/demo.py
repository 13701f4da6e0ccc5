"""Demo data for the account team: months of engagement with HCPs on both sides of the firewall.

Everything goes through the services a colleague or an HCP would use (call notes with their
safety attestation, shares and meetings under the contact rule, preferences, plan notes), dated
in the past with their ``now``/``occurred_at`` arguments, so the demo obeys the same rules as the
product: no contact breaks an HCP's terms, the firewall holds on every page.

The schedule leaves the demo logins usable for a tour and the browser journey: Dr. Harper Cole
(``hcp@example.com``) has two counted contacts in the last 30 days, the last six days ago, no
quiet hours and no pause, so the rep may share a material with her at any hour.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from flask import current_app
from sqlalchemy import func, select

from content import services as content
from content.models import Material, MaterialStatus
from portal import audit, policy
from portal.accounts import call_notes, outreach, planning, preferences
from portal.accounts.models import CallNote
from portal.extensions import db
from portal.models import HcpProfile, Product, Role, User, utcnow
from portal.models.reference import Profession, Verification
from portal.npi import with_check_digit
from portal.questions.intake import OnBehalfInput
from portal.safety.attestations import Attestation
from portal.services.demo import demo_email
from portal.services.passwords import hash_password
from portal.services.territories import find_territory_for
from portal.unit_of_work import unit_of_work

NO_EVENT = Attestation(adverse_event=False, product_complaint=False)


@dataclasses.dataclass(frozen=True)
class ExtraHcp:
    """A verified HCP of the demo's territories without a demo login of their own."""

    who: str
    name: str
    specialty: str
    institution: str
    postal_code: str


# Colleagues' territories: the rep covers US-NE and US-SO, the MSL US-NE and US-WE.
EXTRA_HCPS = [
    ExtraHcp("dr.okafor", "Dr. Amara Okafor", "Cardiology", "NYU Langone", "10016"),
    ExtraHcp("dr.bennett", "Dr. Miles Bennett", "Cardiology", "Yale New Haven Hospital", "06510"),
    ExtraHcp("dr.chen", "Dr. Wei Chen", "Pulmonology", "Massachusetts General", "02114"),
    ExtraHcp("dr.rossi", "Dr. Giulia Rossi", "Cardiology", "Penn Medicine", "19104"),
    ExtraHcp("dr.patel", "Dr. Nisha Patel", "Pulmonology", "Emory University Hospital", "30322"),
    ExtraHcp("dr.hughes", "Dr. Owen Hughes", "Cardiology", "Baylor St. Luke's", "77030"),
    ExtraHcp("dr.kim", "Dr. Soo-ah Kim", "Oncology", "Cedars-Sinai", "90048"),
    ExtraHcp("dr.alvarez", "Dr. Mateo Alvarez", "Pulmonology", "Stanford Health Care", "94305"),
    ExtraHcp("dr.fischer", "Dr. Hannah Fischer", "Cardiology", "Boston Medical Center", "02118"),
    ExtraHcp("dr.wright", "Dr. Ethan Wright", "Oncology", "Johns Hopkins Hospital", "21287"),
]


def _npi(index: int) -> str:
    return with_check_digit(f"1{730000000 + index * 7919:08d}"[:9])


def _user(who: str) -> User:
    found = db.session.scalar(select(User).where(User.email == demo_email(who)))
    assert found is not None, f"demo user {who} is missing"
    return found


def _add_extra_hcps(now: dt.datetime) -> list[User]:
    password_hash = hash_password(current_app.config["DEMO_PASSWORD"])
    admin = _user("admin")
    added = []
    with unit_of_work():
        for index, spec in enumerate(EXTRA_HCPS):
            hcp = User(
                email=demo_email(spec.who), name=spec.name, role=Role.HCP,
                password_hash=password_hash, email_confirmed_at=now - dt.timedelta(days=200),
                created_at=now - dt.timedelta(days=200 - index),
            )  # fmt: skip
            hcp.hcp_profile = HcpProfile(
                profession=Profession.PHYSICIAN, specialty=spec.specialty,
                institution=spec.institution, country="US", postal_code=spec.postal_code,
                npi=_npi(index), territory=find_territory_for("US", spec.postal_code),
                verification=Verification.VERIFIED,
                verified_at=now - dt.timedelta(days=199 - index), verified_by=admin,
            )  # fmt: skip
            db.session.add(hcp)
            db.session.flush()
            audit.record(
                None, "user.created", hcp, email=hcp.email, role=hcp.role.value, source="demo"
            )
            added.append(hcp)
    return added


def _at(now: dt.datetime, days_ago: int) -> dt.datetime:
    """Mid-afternoon UTC (late morning on the US east coast) ``days_ago`` days back."""
    return (now - dt.timedelta(days=days_ago)).replace(hour=15, minute=0, second=0, microsecond=0)


def _shareable(staff: User, hcp: User, at: dt.datetime, offset: int) -> Material | None:
    """A material ``staff`` could share with ``hcp`` at ``at`` (the ``offset``-th of them)."""
    candidates = [
        m
        for m in db.session.scalars(
            select(Material).where(Material.status == MaterialStatus.APPROVED).order_by(Material.id)
        )
        # Shareable then, and still today (the share service checks the material against now).
        if policy.can_share_material_with(staff, m, hcp, at)
        and policy.can_share_material_with(staff, m, hcp, utcnow())
    ]
    return candidates[offset % len(candidates)] if candidates else None


def _view(hcp: User, material: Material, at: dt.datetime) -> None:
    content.record_view(hcp, material, at=at)


def _products(*codes: str) -> list[int]:
    return list(db.session.scalars(select(Product.id).where(Product.code.in_(codes))))


def _note(
    staff: User, hcp: User, at: dt.datetime, kind: str, summary: str, *, asked: bool = False,
    products: tuple[str, ...] = (), topics: str = "", follow_up: str = "",
    follow_up_due: dt.date | None = None, question: OnBehalfInput | None = None,
    now: dt.datetime,
) -> CallNote:  # fmt: skip
    return call_notes.record(
        staff, hcp.id,
        call_notes.CallNoteInput(
            kind=kind, occurred_at=at, requested_by_hcp=asked, product_ids=_products(*products),
            topics=topics, summary=summary, follow_up=follow_up, follow_up_due=follow_up_due,
            question=question,
        ),
        attestation=NO_EVENT, now=at + dt.timedelta(hours=2) if at < now else now,
    )  # fmt: skip


def _share(staff: User, hcp: User, at: dt.datetime, offset: int, note: str) -> Material | None:
    material = _shareable(staff, hcp, at, offset)
    if material is not None:
        outreach.share_material(staff, hcp.id, material.id, note=note, now=at)
    return material


def _harper_cole(now: dt.datetime) -> None:
    """The demo's main HCP: both sides of the firewall worked with her for five months."""
    cole, rep, msl, mi = _user("hcp"), _user("rep"), _user("msl"), _user("mi")
    preferences.save(
        cole,
        preferences.PreferencesInput(
            channels=["portal", "email", "chat", "visit"], product_ids=_products("CVX"),
            areas=["Cardiology"], cap=4,
        ),
        now=_at(now, 160),
    )  # fmt: skip
    _note(rep, cole, _at(now, 150), "visit",
          "Introduced Cardiovex and the patient-support programme; she asked for the dosing guide.",
          products=("CVX",), topics="Cardiovex launch, patient support",
          follow_up="Send the dosing guide", now=now)  # fmt: skip
    shared = _share(rep, cole, _at(now, 147), 0, "The dosing guide we discussed at your office.")
    if shared is not None:
        _view(cole, shared, _at(now, 146))
    _note(msl, cole, _at(now, 120), "video",
          "Scientific exchange on the Cardiovex outcomes data she requested.",
          asked=True, products=("CVX",), topics="Outcomes trial, subgroup data",
          now=now)  # fmt: skip
    _share(msl, cole, _at(now, 95), 3, "The study summary from our call.")
    _note(mi, cole, _at(now, 25), "phone",
          "Inbound call: how long Cardiovex keeps at room temperature; standard response sent.",
          products=("CVX",), topics="Storage", now=now)  # fmt: skip
    meeting = outreach.request_meeting(
        cole,
        outreach.MeetingInput(
            mode="phone", slots=[_at(now, 8), _at(now, 7)], topic="Formulary status",
            staff_id=rep.id,
        ),
        now=_at(now, 10),
    )  # fmt: skip
    outreach.accept_meeting(rep, meeting.id, slot=meeting.slots[0], now=_at(now, 9))
    # In the call she booked, she asked the rep a clinical question: filed for Medical.
    _note(rep, cole, _at(now, 8), "phone",
          "Call she booked: formulary status at Mount Sinai, samples for the clinic. She asked "
          "a medical question: filed for Medical Information, not discussed.",
          asked=True, products=("CVX",), topics="Formulary, samples",
          question=OnBehalfInput(
              text="Is there data on Cardiovex in patients with stage 4 chronic kidney disease?",
              category="clinical", product_id=next(iter(_products("CVX")), None), consent=True,
          ), now=now)  # fmt: skip
    _note(msl, cole, _at(now, 12), "visit",
          "Discussed the new heart-failure guideline and where Cardiovex fits.",
          products=("CVX",), topics="Guideline update",
          follow_up="Share the guideline summary slides",
          follow_up_due=(now + dt.timedelta(days=3)).date(), now=now)  # fmt: skip
    shared = _share(rep, cole, _at(now, 6), 1, "The updated patient brochure.")
    if shared is not None:
        _view(cole, shared, _at(now, 5))  # new engagement on the rep's worklist
    planning.save_plan_note(
        rep, cole.id, "Next visit: bring the new patient brochures; ask about the formulary "
        "committee date.", now=_at(now, 5),
    )  # fmt: skip
    planning.save_plan_note(
        msl, cole.id, "Follow up on the CKD data request once Medical Information answers.",
        now=_at(now, 11),
    )  # fmt: skip


def _field(now: dt.datetime, extra: list[User]) -> None:
    """The rest of the territories: a few months of calls, visits and shares each."""
    rep, msl = _user("rep"), _user("msl")
    for index, hcp in enumerate(extra):
        covering = [s for s in (rep, msl) if policy.can_contact_hcp(s, hcp)]
        for step, days_ago in enumerate((170 - index * 3, 110 - index * 2, 62 - index, 33 - index)):
            staff = covering[(index + step) % len(covering)] if covering else None
            if staff is None:
                break
            at = _at(now, days_ago)
            if step % 2 == 0:
                _note(staff, hcp, at, ("visit", "video", "visit", "phone")[step],
                      "Routine visit: product updates and the patient-support programme.",
                      topics="Product update", now=now)  # fmt: skip
            else:
                material = _share(staff, hcp, at, index + step, "")
                if material is not None and (index + step) % 3:
                    _view(hcp, material, at + dt.timedelta(days=1))
    # An MSL visit with a follow-up due this week, and an HCP waiting for an answer.
    if extra:
        _note(msl, extra[0], _at(now, 3), "visit",
              "She asked for the real-world evidence summary.", topics="Real-world evidence",
              follow_up="Send the RWE summary", follow_up_due=now.date(), now=now)  # fmt: skip
    nakamura = _user("hcp2")
    outreach.request_meeting(
        nakamura,
        outreach.MeetingInput(
            mode="video", slots=[now + dt.timedelta(days=3), now + dt.timedelta(days=4)],
            topic="Trial enrolment criteria", staff_id=msl.id,
        ),
        now=now - dt.timedelta(hours=20),
    )  # fmt: skip


def _terms(now: dt.datetime) -> None:
    """A few HCPs set their terms: quiet hours, a lower cap, a pause."""
    preferences.save(
        _user("dr.mueller"),
        preferences.PreferencesInput(
            channels=["portal", "visit"], areas=["Pulmonology"], quiet_start="18:00",
            quiet_end="09:00", cap=2,
        ),
        now=_at(now, 30),
    )  # fmt: skip
    preferences.save(
        _user("pharmacist"),
        preferences.PreferencesInput(channels=["portal", "email"], cap=1, pause_weeks=3),
        now=now - dt.timedelta(days=2),
    )


SEEDERS: list[Callable[[dt.datetime], None]] = [_harper_cole, _terms]


def seed_account_team() -> str | None:
    """The account team's demo (once): ten more HCPs in the demo's territories, five months of
    call notes, shares, meetings and plan notes on both sides of the firewall, some HCPs' contact
    preferences. Every record goes through its service under the contact rule."""
    if db.session.scalar(select(func.count()).select_from(CallNote)):
        return None
    if db.session.scalar(select(User.id).where(User.email == demo_email("hcp"))) is None:
        return None
    now = utcnow().replace(microsecond=0)
    extra = _add_extra_hcps(now)
    for seeder in SEEDERS:
        seeder(now)
    _field(now, extra)
    notes = db.session.scalar(select(func.count()).select_from(CallNote))
    return f"Added {len(extra)} HCPs and {notes} call notes for the account team."
