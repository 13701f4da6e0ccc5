"""Demo chats for ``seed-demo``: two active consented conversations, an ended one and a pending
invitation, made through the chat services so consent, audit, PV cases and cards are real.

- ``hcp`` ↔ ``msl``: active, both ways, an HCP message describing a side effect (flagged, with
  its PV case and the staff banner) and a medical material shared as a card;
- ``hcp`` ↔ ``rep``: active, a few messages and a promotional material card;
- ``hcp2`` ↔ ``msl``: ended by the HCP (the MSL covers US West too), waiting for the MSL's
  safety attestation (the MSL's home page lists it);
- ``rep.west`` has invited ``hcp2`` (US West) and waits for an answer.

The rep has attested the rep chat ("no adverse event, no complaint"), so compliance sees an
attestation in its transcript.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from chat import consent, messages, phrases
from chat.models import Conversation
from portal.extensions import db
from portal.models import User
from portal.safety import attestations
from portal.services.demo import demo_email

# (who speaks: "hcp" or "staff", text); "CARD" shares the material chosen for that chat.
MSL_CHAT = [
    ("hcp", "Good morning. Do you have recent data on Cardiovex in heart failure patients "
            "with reduced kidney function?"),
    ("staff", "Good morning, Dr. Cole. Yes: the renal subgroup analysis was published last "
              "quarter. I'll share the summary here."),
    ("staff", "CARD"),
    ("hcp", "Thank you. Is the titration schedule the same in that subgroup?"),
    ("staff", "The study kept the same schedule with closer monitoring of potassium and renal "
              "function. The summary has the details on page two."),
    ("hcp", "One of my patients developed a rash after the first week on Cardiovex 10 mg."),
    ("staff", "Thank you for telling me. Our Pharmacovigilance team will follow up with you "
              "about this patient."),
    ("hcp", "Of course. I'm in clinic on Thursday afternoon if they want to call."),
]  # fmt: skip

REP_CHAT = [
    ("hcp", "Hello, could you send me your Cardiovex dosing guide?"),
    ("staff", "Hello Dr. Cole, here it is."),
    ("staff", "CARD"),
    ("hcp", "Thanks, that's what I needed."),
]  # fmt: skip

ENDED_CHAT = [
    ("hcp", "Hello, I have a question about the Oncora study design."),
    ("staff", "Hello Dr. Nakamura. Happy to help: which part of the design?"),
    ("hcp", "Never mind, I found it in the publication. Thank you."),
]  # fmt: skip


def _user(who: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == demo_email(who)))


def _card_material(staff: User, hcp: User, classification: str) -> int | None:
    """A published material of ``classification`` ``staff`` may share with ``hcp`` (Cardiovex
    first), from content's share list."""
    from content import services as content

    shareable = [
        m
        for m in content.shareable_materials(staff, hcp)
        if str(m.classification) == classification
    ]
    chosen = sorted(shareable, key=lambda m: (m.product.code != "CVX", m.id))
    return chosen[0].id if chosen else None


def _chat(hcp: User, staff: User, lines: list[tuple[str, str]], card: int | None) -> Conversation:
    conversation = consent.start_chat(hcp, staff.id, wording_id=consent.consent_wording().id)
    for speaker, text in lines:
        sender = hcp if speaker == "hcp" else staff
        client_id = str(uuid.uuid4())
        if text == "CARD":
            if card is not None:
                messages.send_message(
                    sender, conversation.id, client_id=client_id, material_id=card
                )
            continue
        messages.send_message(sender, conversation.id, client_id=client_id, body=text)
    return conversation


def seed_chats() -> str | None:
    """The default restricted phrases, and the demo conversations and invitation (once)."""
    phrases.ensure_default_restricted_phrases()
    if db.session.scalar(select(func.count()).select_from(Conversation)):
        return None
    hcp, hcp2 = _user("hcp"), _user("hcp2")
    msl, rep, rep_west = _user("msl"), _user("rep"), _user("rep.west")
    if None in (hcp, hcp2, msl, rep, rep_west):
        return None
    assert hcp and hcp2 and msl and rep and rep_west
    # Cards need the demo library; its seeder is idempotent, whichever of the two runs first.
    from content.demo import seed_materials

    library_note = seed_materials()
    _chat(hcp, msl, MSL_CHAT, _card_material(msl, hcp, "medical"))
    rep_chat = _chat(hcp, rep, REP_CHAT, _card_material(rep, hcp, "promotional"))
    attestations.attest_conversation(
        rep, rep_chat.id, adverse_event=False, product_complaint=False,
        through_seq=rep_chat.last_seq,
    )  # fmt: skip
    ended = _chat(hcp2, msl, ENDED_CHAT, None)
    consent.end_chat(hcp2, ended.id)
    consent.invite(rep_west, hcp2.id, note="I'd be glad to answer questions about Oncora here.")
    note = "Added 3 demo chats and 1 invitation."
    return f"{library_note} {note}" if library_note else note
