"""What the PV workspace knows about a case beyond its own columns: where the words were said
(the question, the follow-up inside it, or the chat message inside the transcript), the product
they are about, who reported them and how to reach them, and the clock.

Everything here reads; nothing changes state. The chat package tells safety about its messages
through :func:`register_chat_source` (the core never imports chat), as it tells questions whether
an HCP has opted in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from flask import Flask, current_app

from portal.models import Product, User
from portal.safety import extension
from portal.safety.models import PvCase, PvCaseStatus
from portal.safety.services import CaseSource
from portal.services.users import list_products


# --- the chat's side --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ConversationProducts:
    """The products a conversation is plausibly about: those its staff member covers, and those
    of the materials shared in it (ids, in a stable order)."""

    staff_name: str = ""
    staff_products: tuple[int, ...] = ()
    shared_products: tuple[int, ...] = ()


class ChatSource(Protocol):
    """What the chat package answers about its conversations and messages, in batches."""

    def message_seqs(self, message_ids: Collection[int]) -> dict[int, int]:
        """``{message_id: seq}`` for the messages that exist."""
        ...

    def conversation_products(
        self, conversation_ids: Collection[int]
    ) -> dict[int, ConversationProducts]:
        """``{conversation_id: ConversationProducts}`` for the conversations that exist."""
        ...


def register_chat_source(app: Flask, source: ChatSource) -> None:
    """Let the chat package describe its messages to ``app``'s PV workspace (called by chat's
    ``init_app``; registering again replaces: one chat package per app)."""
    extension(app).chat_source = source


def _chat() -> ChatSource | None:
    return extension(current_app).chat_source


# --- the source link --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SourceLink:
    """Where the case's words were said. The page builds the URL from these: the question page
    (``questions.detail``) at ``#entry-<entry_id>`` for a follow-up, the review transcript
    (``chat_review.transcript``) at ``#seq-<seq>`` for a chat message, or the HCP's page
    (``hcps.detail``) for a call note or a meeting request."""

    kind: CaseSource
    label: str
    question_id: int | None = None
    entry_id: int | None = None
    conversation_id: int | None = None
    seq: int | None = None
    hcp_id: int | None = None

    @property
    def anchor(self) -> str | None:
        if self.kind is CaseSource.FOLLOW_UP and self.entry_id is not None:
            return f"entry-{self.entry_id}"
        if self.kind is CaseSource.CHAT and self.seq is not None:
            return f"seq-{self.seq}"
        return None


SOURCE_LABELS = {
    CaseSource.QUESTION: "Question",
    CaseSource.FOLLOW_UP: "Follow-up",
    CaseSource.CHAT: "Chat message",
    CaseSource.CALL_NOTE: "Call note",
    CaseSource.MEETING: "Meeting request",
}


def _kind(case: PvCase) -> CaseSource:
    try:
        return CaseSource(case.source)
    except ValueError:  # a source this version does not know: shown as said, without a link
        return CaseSource.QUESTION if case.question_id else CaseSource.CHAT


def _source_link(case: PvCase, seqs: dict[int, int]) -> SourceLink:
    kind = _kind(case)
    ref = case.source_ref or ""
    if kind is CaseSource.CHAT:
        seq = seqs.get(case.message_id) if case.message_id is not None else None
        label = f"Chat message {ref}" if ref else "Chat message"
        return SourceLink(kind, label, conversation_id=case.conversation_id, seq=seq)
    if kind in (CaseSource.CALL_NOTE, CaseSource.MEETING):
        label = f"{SOURCE_LABELS[kind]} {ref}".strip()
        return SourceLink(kind, label, hcp_id=case.reporter_id)
    if kind is CaseSource.FOLLOW_UP:
        label = f"Follow-up on question {ref}" if ref else "Follow-up"
        return SourceLink(kind, label, question_id=case.question_id, entry_id=case.entry_id)
    return SourceLink(kind, f"Question {ref}" if ref else "Question", question_id=case.question_id)


# --- the product ------------------------------------------------------------------------------
class ProductBasis(enum.StrEnum):
    """Why the workspace names a product: given (on the case, by PV, with the question) or
    inferred (named in the text, or what the conversation is about)."""

    CASE = "case"
    PV = "pv"
    QUESTION = "question"
    TEXT = "text"
    CONVERSATION = "conversation"


@dataclasses.dataclass(frozen=True)
class ProductSuggestion:
    name: str
    basis: ProductBasis
    explanation: str
    product: Product | None = None

    @property
    def inferred(self) -> bool:
        return self.basis in (ProductBasis.TEXT, ProductBasis.CONVERSATION)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def _within_one_edit(word: str, target: str) -> bool:
    """Equal, or one insertion, deletion, substitution or swap of neighbours apart."""
    if word == target:
        return True
    if abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diffs = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return (
            len(diffs) == 2
            and diffs[1] == i + 1
            and word[i] == target[i + 1]
            and word[i + 1] == target[i]
        )
    shorter, longer = sorted((word, target), key=len)
    i = 0
    while i < len(shorter) and shorter[i] == longer[i]:
        i += 1
    return shorter[i:] == longer[i + 1 :]


# Shorter names must match exactly: one typo away from a four-letter name is too many words.
TYPO_MIN_LENGTH = 5
# Shorter codes are ordinary words ("ON", "IT"): they name nothing.
CODE_MIN_LENGTH = 3


def _matches_name(window: Sequence[str], name: Sequence[str]) -> bool:
    typos = 0
    for word, target in zip(window, name, strict=True):
        if word == target:
            continue
        if len(target) < TYPO_MIN_LENGTH or not _within_one_edit(word, target):
            return False
        typos += 1
    return typos <= 1


def named_products(text: str, products: Iterable[Product]) -> list[tuple[Product, str]]:
    """The products ``text`` names, by name (case and accents ignored, one typo tolerated in
    names of five letters or more) or by code (exactly, codes of three characters or more), in
    the order they are first named; each with the words that matched."""
    words = _words(text)
    found: list[tuple[int, Product, str]] = []
    for product in products:
        name = _words(product.name)
        code = _fold(product.code)
        position: int | None = None
        matched = ""
        if name:
            for i in range(len(words) - len(name) + 1):
                if _matches_name(words[i : i + len(name)], name):
                    position, matched = i, " ".join(words[i : i + len(name)])
                    break
        if (
            len(code) >= CODE_MIN_LENGTH
            and code in words
            and (position is None or words.index(code) < position)
        ):
            position, matched = words.index(code), code
        if position is not None:
            found.append((position, product, matched))
    found.sort(key=lambda item: (item[0], item[1].id))
    return [(product, matched) for _position, product, matched in found]


def _suggest(
    case: PvCase,
    products: Sequence[Product],
    conversation: ConversationProducts | None,
) -> ProductSuggestion | None:
    if case.product is not None:
        return ProductSuggestion(
            case.product.name, ProductBasis.CASE, "Recorded on the case", case.product
        )
    if case.suspect_product.strip():
        return ProductSuggestion(
            case.suspect_product.strip(), ProductBasis.PV, "Entered by Pharmacovigilance"
        )
    question = case.question
    if question is not None and question.product is not None:
        return ProductSuggestion(
            question.product.name,
            ProductBasis.QUESTION,
            "The product the HCP chose when asking",
            question.product,
        )
    # A product named in the words themselves is evidence; what a conversation is usually
    # about is only a guess, so the text is asked first.
    named = named_products(case.source_text, products)
    if named:
        product, matched = named[0]
        others = [p.name for p, _ in named[1:]]
        explanation = f"Named in what was said (“{matched}”)"
        if others:
            explanation += "; also named: " + ", ".join(others)
        return ProductSuggestion(product.name, ProductBasis.TEXT, explanation, product)
    if conversation is not None:
        by_id = {p.id: p for p in products}
        staff = [by_id[i] for i in conversation.staff_products if i in by_id]
        if len(staff) == 1:
            return ProductSuggestion(
                staff[0].name,
                ProductBasis.CONVERSATION,
                f"The only product {conversation.staff_name or 'the staff member'} covers",
                staff[0],
            )
        shared = [by_id[i] for i in conversation.shared_products if i in by_id]
        if len(shared) == 1:
            return ProductSuggestion(
                shared[0].name,
                ProductBasis.CONVERSATION,
                "The only product of the materials shared in the chat",
                shared[0],
            )
    return None


def suggested_product(case: PvCase) -> ProductSuggestion | None:
    """The product a case is about, with why: the case's product, else what PV entered, else the
    question's product, else a product named in what was said (name or code, one typo
    tolerated), else for a chat the staff member's product if they cover exactly one, or the
    product of the materials shared in it if there is exactly one. ``None``: PV must ask."""
    return describe([case])[case.id].product


# --- the reporter -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ReporterContact:
    """Who said it and how to reach them (the primary source of the report)."""

    name: str
    email: str
    role: str
    is_hcp: bool
    profession: str = ""
    specialty: str = ""
    institution: str = ""
    country: str = ""
    country_name: str = ""
    id_label: str = ""  # "NPI" or "Licence"
    id_number: str = ""


def reporter_contact(user: User | None) -> ReporterContact | None:
    """The reporter's contact details from their account (an HCP's professional profile)."""
    if user is None:
        return None
    profile = user.hcp_profile
    if not user.is_hcp or profile is None:
        return ReporterContact(user.name, user.email, user.role.label, is_hcp=False)
    if profile.npi:
        id_label, id_number = "NPI", profile.npi
    elif profile.licence_number:
        id_label, id_number = "Licence", profile.licence_number
    else:
        id_label, id_number = "", ""
    return ReporterContact(
        name=user.name,
        email=user.email,
        role=user.role.label,
        is_hcp=True,
        profession=profile.profession.label,
        specialty=profile.specialty,
        institution=profile.institution,
        country=profile.country,
        country_name=profile.country_name,
        id_label=id_label,
        id_number=id_number,
    )


# --- the clock ----------------------------------------------------------------------------------
class ClockState(enum.StrEnum):
    RUNNING = "running"  # open, not yet due
    OVERDUE = "overdue"  # open, past due
    ON_TIME = "on_time"  # acknowledged by the due time
    LATE = "late"  # acknowledged after the due time


def _duration(delta: dt.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


@dataclasses.dataclass(frozen=True)
class CaseClock:
    """Day zero (when the company received the words), the due time, and where the clock is."""

    received_at: dt.datetime
    due_at: dt.datetime
    acknowledged_at: dt.datetime | None
    state: ClockState
    delta: dt.timedelta  # time left, overdue by, or acknowledged early/late by

    @property
    def summary(self) -> str:
        span = _duration(self.delta)
        return {
            ClockState.RUNNING: f"{span} left",
            ClockState.OVERDUE: f"Overdue by {span}",
            ClockState.ON_TIME: "Acknowledged on time",
            ClockState.LATE: f"Acknowledged late, by {span}",
        }[self.state]


def clock(case: PvCase, now: dt.datetime) -> CaseClock:
    """Where the case stands against its clock at ``now``."""
    if case.acknowledged_at is not None:
        late = case.acknowledged_at > case.due_at
        state = ClockState.LATE if late else ClockState.ON_TIME
        delta = abs(case.acknowledged_at - case.due_at)
    elif case.status is PvCaseStatus.OPEN and case.due_at < now:
        state, delta = ClockState.OVERDUE, now - case.due_at
    else:
        state, delta = ClockState.RUNNING, max(case.due_at - now, dt.timedelta(0))
    return CaseClock(case.created_at, case.due_at, case.acknowledged_at, state, delta)


# --- all of it, for a page of cases -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CaseFacts:
    source: SourceLink
    product: ProductSuggestion | None
    reporter: ReporterContact | None


def describe(cases: Sequence[PvCase]) -> dict[int, CaseFacts]:
    """Source link, product and reporter of each case (by id), with one read of the products and
    one batch question to the chat, however many cases."""
    chat = _chat()
    chat_cases = [c for c in cases if c.conversation_id is not None]
    seqs: dict[int, int] = {}
    conversations: dict[int, ConversationProducts] = {}
    if chat is not None and chat_cases:
        seqs = chat.message_seqs({c.message_id for c in chat_cases if c.message_id is not None})
        conversations = chat.conversation_products(
            {c.conversation_id for c in chat_cases if c.conversation_id is not None}
        )
    products = list_products() if cases else []
    return {
        case.id: CaseFacts(
            source=_source_link(case, seqs),
            product=_suggest(
                case,
                products,
                conversations.get(case.conversation_id)
                if case.conversation_id is not None
                else None,
            ),
            reporter=reporter_contact(case.reporter_user),
        )
        for case in cases
    }
