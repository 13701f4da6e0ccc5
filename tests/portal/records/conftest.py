"""A seeded history for the supervisory export: two conversations (one with an edit, a deletion
and a consent withdrawal), questions with replies, notes and attestations, a PV case."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from typing import Any

import pytest

from chat import consent, messages
from chat.models import Conversation
from portal.models import Product, Role, User
from portal.questions import work
from portal.questions.models import Question
from portal.safety.attestations import Attestation
from portal.safety.models import PvCase
from tests.chat.factories import active_conversation, send
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask, pv_cases_of

NOTHING = Attestation(adverse_event=False, product_complaint=False)


@dataclasses.dataclass
class History:
    hcp: User
    other_hcp: User
    msl: User
    rep: User
    mi: User
    compliance: User
    product: Product
    chat: Conversation
    other_chat: Conversation
    question: Question
    ae_question: Question
    other_question: Question
    case: PvCase
    edited_id: int
    deleted_id: int


@pytest.fixture
def history(app: Any) -> History:
    territory = make_territory()
    product = make_product()
    other_product = make_product()
    hcp = make_hcp(territory=territory, name="Dr. Ada Export")
    other_hcp = make_hcp(territory=territory, name="Dr. Bo Other")
    msl = make_user(Role.MSL, territories=[territory], products=[product], name="Sam MSL")
    rep = make_user(Role.REP, territories=[territory], products=[other_product], name="Rae Rep")
    mi = make_user(Role.MEDICAL_INFORMATION, name="Mia Info")
    compliance = make_user(Role.COMPLIANCE, name="Cleo Compliance")

    chat = active_conversation(hcp, msl)
    first = send(hcp, chat, "Hello, a question about the titration.")
    second = send(msl, chat, "Happy to help, what dose?")
    send(hcp, chat, "The starting dose, please.")
    messages.edit_message(msl, second["id"], "Happy to help: which dose?")
    messages.delete_message(hcp, first["id"])
    consent.end_chat(hcp, chat.id)

    other_chat = active_conversation(other_hcp, rep)
    send(other_hcp, other_chat, "Any new leaflets?")

    question = ask(hcp, product=product, text="What is the dose in renal impairment?")
    work.add_note(mi, question.id, body="Check the label first.")
    work.reply_to_question(mi, question.id, body="Halve the dose.", attestation=NOTHING)
    ae_question = ask(
        hcp, product=product, text="My patient developed a severe rash after the first dose."
    )
    cases = pv_cases_of(ae_question)
    assert cases, "the adverse event should have opened a PV case"
    other_question = ask(other_hcp, product=other_product, text="Is there a copay card?")
    return History(
        hcp=hcp,
        other_hcp=other_hcp,
        msl=msl,
        rep=rep,
        mi=mi,
        compliance=compliance,
        product=product,
        chat=chat,
        other_chat=other_chat,
        question=question,
        ae_question=ae_question,
        other_question=other_question,
        case=cases[0],
        edited_id=int(second["id"]),
        deleted_id=int(first["id"]),
    )


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines() if line]
