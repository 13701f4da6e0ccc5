"""The audit trail as people read it: each record as a sentence, its target named and linked,
its details laid out with readable values.

One sentence template per action (:data:`ACTIONS`, translatable), with placeholders for the actor
(``%(actor)s``: their name and role), the target (``%(target)s``: a question's reference, a
person's name...) and a few details. An action without a template reads as a generic sentence.

Names and links come from :class:`Resolver`, which loads what a page of records refers to (people,
questions, conversations, cases, materials...) in one statement per kind, and asks policy whether
the viewer may open each page before linking it: a link is only ever shown where the page would
open, so ids reveal nothing the viewer could not already see.

Nothing here changes state; the pages and the CSV of :mod:`portal.services.audit_trail` use it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select

from portal import i18n, inputs, policy
from portal.extensions import db
from portal.models import AuditRecord, Role, User
from portal.models.reference import TEAM_NAMES, TeamKey

# --- what a sentence is made of -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shown:
    """Something named on the page: its text and, where the viewer may open it, its page."""

    text: str
    url: str | None = None

    def html(self) -> Markup:
        if self.url:
            return Markup('<a href="{}">{}</a>').format(self.url, self.text)
        return Markup("{}").format(self.text)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
MISSING = "—"


@dataclasses.dataclass(frozen=True)
class Sentence:
    """A translated template and what fills its placeholders."""

    template: str
    parts: dict[str, Shown]

    def _fill(self, render: Callable[[Shown], str], literal: Callable[[str], str]) -> str:
        pieces: list[str] = []
        last = 0
        for match in _PLACEHOLDER.finditer(self.template):
            pieces.append(literal(self.template[last : match.start()]))
            pieces.append(render(self.parts.get(match.group(1)) or Shown(MISSING)))
            last = match.end()
        pieces.append(literal(self.template[last:]))
        return "".join(pieces)

    def html(self) -> Markup:
        """The sentence with its names linked (every value escaped)."""
        # Safe: every literal piece is escaped here and every part by Shown.html.
        filled = self._fill(lambda part: str(part.html()), lambda text: str(escape(text)))
        return Markup(filled)  # noqa: S704

    def text(self) -> str:
        """The sentence as plain text (the CSV)."""
        return self._fill(lambda part: part.text, lambda text: text)


@dataclasses.dataclass(frozen=True)
class DetailItem:
    """One line of a record's details: a label and its values (a change reads "role: rep → msl")."""

    key: str
    label: str
    values: list[Shown]


@dataclasses.dataclass(frozen=True)
class ReadableRecord:
    """An audit record as the page shows it."""

    record: AuditRecord
    sentence: Sentence
    actor: Shown
    target: Shown | None
    details: list[DetailItem]
    known: bool  # whether the action has a sentence of its own


# --- the actions ----------------------------------------------------------------------------------


class Group(enum.StrEnum):
    """How the action filter groups the actions."""

    SIGN_IN = "sign_in"
    ACCOUNTS = "accounts"
    QUESTIONS = "questions"
    CHAT = "chat"
    SAFETY = "safety"
    CONTENT = "content"
    FIELD = "field"
    SETTINGS = "settings"
    INTEGRATION = "integration"
    RECORDS = "records"
    OTHER = "other"


GROUP_LABELS: dict[Group, Any] = {
    Group.SIGN_IN: _l("Sign-in and security"),
    Group.ACCOUNTS: _l("Accounts"),
    Group.QUESTIONS: _l("Questions"),
    Group.CHAT: _l("Chat"),
    Group.SAFETY: _l("Safety"),
    Group.CONTENT: _l("Content"),
    Group.FIELD: _l("HCP contact and outreach"),
    Group.SETTINGS: _l("Settings"),
    Group.INTEGRATION: _l("Integration"),
    Group.RECORDS: _l("Records and privacy"),
    Group.OTHER: _l("Other"),
}


@dataclasses.dataclass(frozen=True)
class Action:
    sentence: Any  # a lazy translated string with %(actor)s, %(target)s, %(<detail>)s
    group: Group


def _a(sentence: Any, group: Group) -> Action:
    return Action(sentence, group)


# Every action the portal records (grep ``audit.record(`` and ``audit.Entry(``), one sentence each.
ACTIONS: dict[str, Action] = {
    # sign-in and security
    "auth.login": _a(_l("%(actor)s signed in"), Group.SIGN_IN),
    "auth.logout": _a(_l("%(actor)s signed out"), Group.SIGN_IN),
    "auth.login_failed": _a(_l("A sign-in as %(target)s failed (wrong password)"), Group.SIGN_IN),
    "auth.login_refused": _a(_l("A sign-in as %(target)s was refused"), Group.SIGN_IN),
    "auth.login_throttled": _a(
        _l("Sign-ins as %(target)s were paused after repeated failures"), Group.SIGN_IN
    ),
    "auth.two_factor": _a(
        _l("%(actor)s confirmed their sign-in with a second factor"), Group.SIGN_IN
    ),
    "auth.two_factor_failed": _a(
        _l("A second-factor code for %(target)s was refused"), Group.SIGN_IN
    ),
    "auth.password_reset": _a(_l("%(actor)s reset their password"), Group.SIGN_IN),
    "auth.reset_requested": _a(_l("A password reset was requested for %(target)s"), Group.SIGN_IN),
    "auth.password_change_failed": _a(
        _l("%(actor)s failed to change their password"), Group.SIGN_IN
    ),
    "auth.email_confirmed": _a(_l("%(actor)s confirmed their e-mail address"), Group.SIGN_IN),
    "auth.confirmation_resent": _a(
        _l("%(actor)s asked for a new confirmation e-mail"), Group.SIGN_IN
    ),
    "auth.registration_existing": _a(
        _l("Someone tried to register again with the address of %(target)s"), Group.SIGN_IN
    ),
    "auth.registration_npi_taken": _a(
        _l("Someone tried to register with the NPI of %(target)s"), Group.SIGN_IN
    ),
    "session.started": _a(_l("%(actor)s started a session"), Group.SIGN_IN),
    "session.revoked": _a(_l("%(actor)s ended a session of %(target)s"), Group.SIGN_IN),
    "two_factor.enrolled": _a(_l("%(actor)s turned on two-factor sign-in"), Group.SIGN_IN),
    "two_factor.turned_off": _a(_l("%(actor)s turned off two-factor sign-in"), Group.SIGN_IN),
    "two_factor.reset": _a(
        _l("%(actor)s reset the two-factor sign-in of %(target)s"), Group.SIGN_IN
    ),
    "two_factor.recovery_code_used": _a(
        _l("%(actor)s signed in with a recovery code"), Group.SIGN_IN
    ),
    "two_factor.recovery_codes_regenerated": _a(
        _l("%(actor)s made new two-factor recovery codes"), Group.SIGN_IN
    ),
    # accounts
    "hcp.registered": _a(_l("%(actor)s registered as a healthcare professional"), Group.ACCOUNTS),
    "hcp.verified": _a(_l("%(actor)s verified %(target)s"), Group.ACCOUNTS),
    "hcp.rejected": _a(_l("%(actor)s rejected the registration of %(target)s"), Group.ACCOUNTS),
    "user.created": _a(_l("%(actor)s created the account of %(target)s"), Group.ACCOUNTS),
    "user.renamed": _a(_l("%(actor)s renamed %(target)s"), Group.ACCOUNTS),
    "user.suspended": _a(_l("%(actor)s suspended %(target)s"), Group.ACCOUNTS),
    "user.reactivated": _a(_l("%(actor)s reactivated %(target)s"), Group.ACCOUNTS),
    "user.assignment_changed": _a(
        _l("%(actor)s changed the role or assignment of %(target)s"), Group.ACCOUNTS
    ),
    "user.password_changed": _a(_l("%(actor)s changed their password"), Group.ACCOUNTS),
    "user.locale_changed": _a(_l("%(actor)s changed their language or time zone"), Group.ACCOUNTS),
    # questions
    "question.submit": _a(_l("%(actor)s asked question %(target)s"), Group.QUESTIONS),
    "question.submit_on_behalf": _a(
        _l("%(actor)s filed question %(target)s for an HCP"), Group.QUESTIONS
    ),
    "question.follow_up": _a(
        _l("%(actor)s added a follow-up to question %(target)s"), Group.QUESTIONS
    ),
    "question.claim": _a(_l("%(actor)s claimed question %(target)s"), Group.QUESTIONS),
    "question.reply": _a(_l("%(actor)s answered question %(target)s"), Group.QUESTIONS),
    "question.note": _a(
        _l("%(actor)s added an internal note to question %(target)s"), Group.QUESTIONS
    ),
    "question.reassign": _a(
        _l("%(actor)s moved question %(target)s from %(from_team)s to %(to_team)s"), Group.QUESTIONS
    ),
    "question.reroute": _a(
        _l("%(actor)s re-routed question %(target)s from %(from_team)s to %(to_team)s"),
        Group.QUESTIONS,
    ),
    "question.escalate": _a(
        _l("%(actor)s escalated question %(target)s to %(to_lead)s"), Group.QUESTIONS
    ),
    "question.close": _a(_l("%(actor)s closed question %(target)s"), Group.QUESTIONS),
    "question.rate": _a(_l("%(actor)s rated the answer to question %(target)s"), Group.QUESTIONS),
    "question.overdue": _a(_l("Question %(target)s became overdue"), Group.QUESTIONS),
    # chat
    "chat.invited": _a(_l("%(actor)s invited %(hcp)s to chat"), Group.CHAT),
    "chat.invitation_accepted": _a(_l("%(actor)s accepted an invitation to chat"), Group.CHAT),
    "chat.invitation_declined": _a(_l("%(actor)s declined an invitation to chat"), Group.CHAT),
    "chat.consent_given": _a(_l("%(actor)s agreed to chat in conversation %(target)s"), Group.CHAT),
    "chat.consent_withdrawn": _a(
        _l("%(actor)s ended the chat in conversation %(target)s"), Group.CHAT
    ),
    "chat.message_sent": _a(_l("%(actor)s sent message %(target)s"), Group.CHAT),
    "chat.message_edited": _a(_l("%(actor)s edited message %(target)s"), Group.CHAT),
    "chat.message_deleted": _a(_l("%(actor)s deleted message %(target)s"), Group.CHAT),
    "chat.message_refused": _a(
        _l("A message by %(actor)s in conversation %(target)s was refused (restricted phrase)"),
        Group.CHAT,
    ),
    "chat.phrase_added": _a(_l("%(actor)s added the restricted phrase “%(phrase)s”"), Group.CHAT),
    "chat.phrase_removed": _a(
        _l("%(actor)s removed the restricted phrase “%(phrase)s”"), Group.CHAT
    ),
    # safety
    "pv_case.open": _a(_l("%(actor)s opened PV case %(target)s"), Group.SAFETY),
    "pv_case.report": _a(
        _l("%(actor)s reported to Pharmacovigilance: case %(target)s"), Group.SAFETY
    ),
    "pv_case.acknowledge": _a(_l("%(actor)s acknowledged PV case %(target)s"), Group.SAFETY),
    "pv_case.update": _a(_l("%(actor)s updated PV case %(target)s"), Group.SAFETY),
    "pv_case.close": _a(_l("%(actor)s closed PV case %(target)s"), Group.SAFETY),
    "pv_case.overdue": _a(_l("PV case %(target)s became overdue"), Group.SAFETY),
    "pv_case.export": _a(
        _l("%(actor)s exported the PV cases received %(since)s to %(until)s"), Group.SAFETY
    ),
    "pv_follow_up.ask": _a(
        _l("%(actor)s asked %(hcp)s a follow-up question on case %(case)s"), Group.SAFETY
    ),
    "pv_follow_up.answer": _a(
        _l("%(actor)s answered a follow-up question on case %(case)s"), Group.SAFETY
    ),
    "safety.attest": _a(_l("%(actor)s attested what they read for adverse events"), Group.SAFETY),
    # content
    "material.created": _a(_l("%(actor)s created material %(target)s"), Group.CONTENT),
    "material.updated": _a(_l("%(actor)s edited material %(target)s"), Group.CONTENT),
    "material.submitted": _a(
        _l("%(actor)s submitted material %(target)s for review"), Group.CONTENT
    ),
    "material.approved": _a(_l("%(actor)s approved material %(target)s"), Group.CONTENT),
    "material.rejected": _a(_l("%(actor)s rejected material %(target)s"), Group.CONTENT),
    "material.withdrawn": _a(_l("%(actor)s withdrew material %(target)s"), Group.CONTENT),
    "material.versioned": _a(
        _l("%(actor)s started a new version of material %(target)s"), Group.CONTENT
    ),
    "material.retired": _a(
        _l("Material %(target)s was superseded by a new version"), Group.CONTENT
    ),
    # the HCP's contact and outreach
    "call_note.recorded": _a(_l("%(actor)s recorded an interaction with %(hcp)s"), Group.FIELD),
    "call_note.follow_up_done": _a(_l("%(actor)s completed a follow-up with %(hcp)s"), Group.FIELD),
    "api.call_note": _a(_l("An integration recorded an interaction for %(author)s"), Group.FIELD),
    "contact.preferences_changed": _a(
        _l("%(actor)s changed their contact preferences"), Group.FIELD
    ),
    "contact.refused": _a(
        _l("A contact with %(target)s was refused by their preferences"), Group.FIELD
    ),
    "hcp.plan_saved": _a(_l("%(actor)s saved the plan note for %(target)s"), Group.FIELD),
    "outreach.material_shared": _a(
        _l("%(actor)s shared material %(material)s with %(hcp)s"), Group.FIELD
    ),
    "meeting.proposed": _a(_l("%(actor)s proposed a meeting to %(hcp)s"), Group.FIELD),
    "meeting.requested": _a(_l("%(actor)s asked %(staff)s for a meeting"), Group.FIELD),
    "meeting.accepted": _a(_l("%(actor)s accepted a meeting"), Group.FIELD),
    "meeting.declined": _a(_l("%(actor)s declined a meeting"), Group.FIELD),
    "meeting.cancelled": _a(_l("%(actor)s cancelled a meeting"), Group.FIELD),
    # settings
    "routing_rule.created": _a(_l("%(actor)s created routing rule %(target)s"), Group.SETTINGS),
    "routing_rule.updated": _a(_l("%(actor)s changed routing rule %(target)s"), Group.SETTINGS),
    "routing_rule.deleted": _a(_l("%(actor)s deleted routing rule %(target)s"), Group.SETTINGS),
    "routing_rule.moved": _a(_l("%(actor)s moved routing rule %(target)s"), Group.SETTINGS),
    "routing_rule.enabled": _a(_l("%(actor)s enabled routing rule %(target)s"), Group.SETTINGS),
    "routing_rule.disabled": _a(_l("%(actor)s disabled routing rule %(target)s"), Group.SETTINGS),
    "sla.changed": _a(_l("%(actor)s changed the response time of %(target)s"), Group.SETTINGS),
    "holidays.replaced": _a(_l("%(actor)s changed the holiday calendar"), Group.SETTINGS),
    "team.calendar_changed": _a(
        _l("%(actor)s changed the working hours of %(target)s"), Group.SETTINGS
    ),
    "product_label.changed": _a(
        _l("%(actor)s changed the label facts of %(target)s"), Group.SETTINGS
    ),
    # integration
    "api_token.created": _a(_l("%(actor)s created API token %(target)s"), Group.INTEGRATION),
    "api_token.revoked": _a(_l("%(actor)s revoked API token %(target)s"), Group.INTEGRATION),
    "api.request": _a(_l("API token %(target)s made a request"), Group.INTEGRATION),
    "webhook.create": _a(_l("%(actor)s subscribed webhook %(target)s"), Group.INTEGRATION),
    "webhook.delete": _a(_l("%(actor)s deleted webhook %(target)s"), Group.INTEGRATION),
    "webhook.enable": _a(_l("%(actor)s turned on webhook %(target)s"), Group.INTEGRATION),
    "webhook.disable": _a(_l("%(actor)s turned off webhook %(target)s"), Group.INTEGRATION),
    "webhook.rotate_secret": _a(
        _l("%(actor)s rotated the secret of webhook %(target)s"), Group.INTEGRATION
    ),
    "webhook.test": _a(
        _l("%(actor)s sent a test delivery to webhook %(target)s"), Group.INTEGRATION
    ),
    "webhook.send_again": _a(_l("%(actor)s sent delivery %(target)s again"), Group.INTEGRATION),
    # records and privacy (this issue)
    "audit.exported": _a(_l("%(actor)s exported %(rows)s audit records"), Group.RECORDS),
    "export.requested": _a(_l("%(actor)s asked for supervisory export %(target)s"), Group.RECORDS),
    "export.completed": _a(_l("Supervisory export %(target)s was completed"), Group.RECORDS),
    "export.failed": _a(_l("Supervisory export %(target)s failed"), Group.RECORDS),
    "export.downloaded": _a(
        _l("%(actor)s downloaded supervisory export %(target)s"), Group.RECORDS
    ),
    "privacy.exported": _a(_l("%(actor)s downloaded the data held about them"), Group.RECORDS),
    "privacy.erased": _a(_l("%(actor)s erased the personal data of %(target)s"), Group.RECORDS),
    "privacy.erasure_held": _a(
        _l("The erasure of %(target)s waits: a legal hold applies"), Group.RECORDS
    ),
    "privacy.erasure_refused": _a(
        _l("%(actor)s was refused the erasure of %(target)s"), Group.RECORDS
    ),
    "legal_hold.placed": _a(_l("%(actor)s placed a legal hold on %(target)s"), Group.RECORDS),
    "legal_hold.released": _a(_l("%(actor)s released the legal hold on %(target)s"), Group.RECORDS),
    "retention.period_changed": _a(
        _l("%(actor)s changed the retention period of %(target)s"), Group.RECORDS
    ),
    "retention.purged": _a(_l("Records past their retention period were deleted"), Group.RECORDS),
    # other
    "demo.seeded": _a(_l("The demo data was loaded"), Group.OTHER),
}

GENERIC = _l("%(actor)s: “%(action)s” on %(target)s")
SYSTEM = _l("The portal")

SHORT_ROLES: dict[Role, Any] = {
    Role.HCP: _l("HCP"),
    Role.REP: _l("Rep"),
    Role.MARKET_ACCESS: _l("Market access"),
    Role.MSL: _l("MSL"),
    Role.MEDICAL_INFORMATION: _l("Medical information"),
    Role.PHARMACOVIGILANCE: _l("PV"),
    Role.QUALITY: _l("Quality"),
    Role.CONTENT_MANAGER: _l("Content manager"),
    Role.MLR_REVIEWER: _l("MLR reviewer"),
    Role.COMPLIANCE: _l("Compliance"),
    Role.ADMIN: _l("Administrator"),
}

# What the kinds of target are called where the sentence names the kind (the generic sentence).
TARGET_NOUNS: dict[str, Any] = {
    "users": _l("user"),
    "questions": _l("question"),
    "conversations": _l("conversation"),
    "chat_messages": _l("message"),
    "chat_invitations": _l("invitation"),
    "pv_cases": _l("PV case"),
    "pv_follow_ups": _l("PV follow-up"),
    "materials": _l("material"),
    "routing_rules": _l("routing rule"),
    "webhook_subscriptions": _l("webhook"),
    "api_tokens": _l("API token"),
    "call_notes": _l("call note"),
    "meetings": _l("meeting"),
}


def grouped_actions() -> list[tuple[str, list[str]]]:
    """The known actions by group, in the registry's order: what the action filter offers."""
    groups: dict[Group, list[str]] = {group: [] for group in Group}
    for name, action in ACTIONS.items():
        groups[action.group].append(name)
    return [(str(GROUP_LABELS[group]), names) for group, names in groups.items() if names]


# --- the details ----------------------------------------------------------------------------------

DETAIL_LABELS: dict[str, Any] = {
    "reason": _l("Reason"),
    "before": _l("Before"),
    "after": _l("After"),
    "ip": _l("IP address"),
    "device": _l("Device"),
    "email": _l("E-mail"),
    "name": _l("Name"),
    "role": _l("Role"),
    "hcp": _l("HCP"),
    "staff": _l("Staff member"),
    "assignee": _l("Assigned to"),
    "previous_assignee": _l("Previously assigned to"),
    "author": _l("Author"),
    "to_lead": _l("Team lead"),
    "question": _l("Question"),
    "conversation": _l("Conversation"),
    "case": _l("PV case"),
    "material": _l("Material"),
    "from_team": _l("From team"),
    "to_team": _l("To team"),
    "due_at": _l("Due"),
    "flags": _l("Flags"),
    "routing": _l("Routing"),
    "licence": _l("Licence"),
    "npi": _l("NPI"),
    "changes": _l("Changes"),
}

# Details naming a person (a user id), and details naming other records by id.
USER_KEYS = frozenset({"hcp", "staff", "assignee", "previous_assignee", "author", "to_lead"})
REF_KEYS: dict[str, str] = {
    "question": "questions",
    "question_id": "questions",
    "conversation": "conversations",
    "conversation_id": "conversations",
    "case": "pv_cases",
    "case_id": "pv_cases",
    "material": "materials",
    "material_id": "materials",
    "subscription": "webhook_subscriptions",
    **{key: "users" for key in USER_KEYS},
}


def _label(key: str) -> str:
    known = DETAIL_LABELS.get(key)
    return str(known) if known is not None else key.replace("_", " ").capitalize()


def _plain(key: str, value: Any) -> str:
    """A value as a reader reads it: yes/no, lists joined, never ``None`` or a Python repr."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ", ".join(_plain(key, item) for item in value) if value else _("none")
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(k, v)}" for k, v in value.items()) if value else _("none")
    text = str(value)
    if key == "role":
        try:
            return str(SHORT_ROLES[Role(text)])
        except ValueError:
            return text
    if key.endswith("_team") or key in ("team", "teams"):
        lead = text.endswith("*")  # a team's lead, in an assignment snapshot
        try:
            name = str(TEAM_NAMES[TeamKey(text.rstrip("*"))])
        except (ValueError, KeyError):
            return text
        return _("%(team)s (lead)", team=name) if lead else name
    if key.endswith("_at") or key in ("since", "until", "starts_at", "was"):
        moment = _moment(text)
        if moment is not None:
            return i18n.format_datetime(moment)
    return text


def _moment(text: str) -> dt.datetime | None:
    if len(text) <= 10:
        return None  # a day is shown as written (YYYY-MM-DD)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _changes(before: Any, after: Any) -> list[str]:
    """``before``/``after`` as the changes they record: "role: rep → msl" per changed field."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in [*before, *[k for k in after if k not in before]]:
            old, new = before.get(key), after.get(key)
            if old != new:
                lines.append(f"{_label(key)}: {_plain(key, old)} → {_plain(key, new)}")
        return lines or [_("no change")]
    return [f"{_plain('', before)} → {_plain('', after)}"]


# --- names and links ------------------------------------------------------------------------------


def _id(value: Any) -> int | None:
    """``value`` as a record id (an int, or its digits as text), else ``None``."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    return value if inputs.is_id(value) else None


class Resolver:
    """Names and links of what some records refer to, loaded once per kind, linked only where
    ``viewer``'s policy opens the page."""

    def __init__(self, viewer: User) -> None:
        self.viewer = viewer
        self.wanted: dict[str, set[int]] = {}
        self.users: dict[int, User] = {}
        self.questions: dict[int, Any] = {}
        self.conversations: dict[int, Any] = {}
        self.messages: dict[int, tuple[int, int]] = {}  # id -> (conversation id, seq)
        self.materials: dict[int, tuple[str, int]] = {}  # id -> (approval code, version)
        self.existing: dict[str, set[int]] = {}

    def want(self, kind: str, value: Any) -> None:
        ident = _id(value)
        if ident is not None:
            self.wanted.setdefault(kind, set()).add(ident)

    def collect(self, records: Iterable[AuditRecord]) -> None:
        for record in records:
            self.want("users", record.actor_id)
            self.want(record.target_type, record.target_id)
            for key, value in (record.details or {}).items():
                if key in REF_KEYS:
                    self.want(REF_KEYS[key], value)

    def load(self) -> None:
        """One statement per kind referred to (and none for a kind nobody names)."""
        from chat.models import Conversation, Message
        from content.models import Material
        from portal.questions.models import Question, RoutingRule
        from portal.safety.models import PvCase
        from portal.webhooks.models import WebhookSubscription

        wanted = self.wanted
        if wanted.get("chat_messages"):
            rows = db.session.execute(
                select(Message.id, Message.conversation_id, Message.seq).where(
                    Message.id.in_(wanted["chat_messages"])
                )
            )
            self.messages = {row.id: (row.conversation_id, row.seq) for row in rows}
            for conversation_id, _seq in self.messages.values():
                wanted.setdefault("conversations", set()).add(conversation_id)
        if wanted.get("users"):
            found = db.session.scalars(select(User).where(User.id.in_(wanted["users"])))
            self.users = {user.id: user for user in found}
        if wanted.get("questions"):
            found_q = db.session.scalars(
                select(Question).where(Question.id.in_(wanted["questions"]))
            )
            self.questions = {q.id: q for q in found_q}
        if wanted.get("conversations"):
            found_c = db.session.scalars(
                select(Conversation).where(Conversation.id.in_(wanted["conversations"]))
            )
            self.conversations = {c.id: c for c in found_c}
        if wanted.get("materials"):
            rows = db.session.execute(
                select(Material.id, Material.approval_code, Material.version).where(
                    Material.id.in_(wanted["materials"])
                )
            )
            self.materials = {row.id: (row.approval_code, row.version) for row in rows}
        for kind, column in (
            ("pv_cases", PvCase.id),
            ("routing_rules", RoutingRule.id),
            ("webhook_subscriptions", WebhookSubscription.id),
        ):
            if wanted.get(kind):
                self.existing[kind] = set(
                    db.session.scalars(select(column).where(column.in_(wanted[kind])))
                )

    # The pages, each behind the policy that opens it.
    def person(self, value: Any, fallback: str = "") -> Shown:
        ident = _id(value)
        user = self.users.get(ident) if ident is not None else None
        if user is None:
            return Shown(fallback or (f"#{ident}" if ident is not None else MISSING))
        text = f"{user.name} ({SHORT_ROLES[user.role]})"
        if policy.can_view_users(self.viewer):
            return Shown(text, url_for("admin.user_detail", user_id=user.id))
        if user.role is Role.HCP and policy.can_view_hcp_record(self.viewer, user):
            return Shown(text, url_for("hcps.detail", hcp_id=user.id))
        return Shown(text)

    def question(self, value: Any) -> Shown:
        from portal.questions.models import reference_of

        ident = _id(value)
        if ident is None:
            return Shown(MISSING)
        found = self.questions.get(ident)
        text = reference_of(ident)
        if found is not None and policy.can_view_question(self.viewer, found):
            return Shown(text, url_for("questions.detail", question_id=ident))
        return Shown(text)

    def conversation(self, value: Any, *, seq: int | None = None) -> Shown:
        ident = _id(value)
        if ident is None:
            return Shown(MISSING)
        found = self.conversations.get(ident)
        text = f"#{ident}"
        # Conservative: a transcript opened only through a PV case is not linked from here.
        if found is not None and policy.can_read_chat_transcript(
            self.viewer, found, holds_pv_case=False
        ):
            anchor = f"seq-{seq}" if seq else None
            url = url_for("chat_review.transcript", conversation_id=ident, _anchor=anchor)
            return Shown(text, url)
        return Shown(text)

    def message(self, value: Any, details: dict[str, Any]) -> Shown:
        ident = _id(value)
        found = self.messages.get(ident) if ident is not None else None
        if found is None:
            conversation, seq = _id(details.get("conversation")), _id(details.get("seq"))
        else:
            conversation, seq = found
        if conversation is None:
            return Shown(f"#{ident}" if ident is not None else MISSING)
        shown = self.conversation(conversation, seq=seq)
        text = _(
            "#%(seq)s in conversation #%(conversation)s", seq=seq or "?", conversation=conversation
        )
        return Shown(text, shown.url)

    def case(self, value: Any) -> Shown:
        ident = _id(value)
        if ident is None:
            return Shown(MISSING)
        text = f"PV-{ident:06d}"
        if ident in self.existing.get("pv_cases", set()) and policy.can_view_pv_cases(self.viewer):
            return Shown(text, url_for("safety.case", case_id=ident))
        return Shown(text)

    def material(self, value: Any) -> Shown:
        ident = _id(value)
        found = self.materials.get(ident) if ident is not None else None
        if found is None:
            return Shown(f"#{ident}" if ident is not None else MISSING)
        code, version = found
        text = _("%(code)s (version %(version)s)", code=code, version=version)
        if policy.can_manage_library(self.viewer):
            return Shown(text, url_for("content.manage_material", material_id=ident))
        return Shown(text)

    def ref(self, kind: str, value: Any, details: dict[str, Any]) -> Shown:
        """Whatever ``kind``/``value`` names, linked where the viewer may open it."""
        name = details.get("name")
        ident = _id(value)
        if kind == "users":
            return self.person(value)
        if kind == "questions":
            return self.question(value)
        if kind == "conversations":
            return self.conversation(value)
        if kind == "chat_messages":
            return self.message(value, details)
        if kind == "pv_cases":
            return self.case(value) if ident is not None else Shown(_("PV cases"))
        if kind == "materials":
            return self.material(value)
        if kind == "pv_follow_ups":
            return self.case(details.get("case"))
        if kind == "routing_rules":
            text = f"“{name}”" if name else f"#{value}"
            live = ident in self.existing.get("routing_rules", set())
            if live and policy.can_view_routing(self.viewer):
                return Shown(text, url_for("routing_admin.edit_rule", rule_id=ident))
            return Shown(text)
        if kind == "product_labels" and ident is not None:
            text = _("product #%(id)s", id=ident)
            if policy.can_view_routing(self.viewer):
                return Shown(text, url_for("routing_admin.edit_label", product_id=ident))
            return Shown(text)
        if kind == "sla_policies":
            url = url_for("routing_admin.slas") if policy.can_view_routing(self.viewer) else None
            return Shown(str(value or MISSING), url)
        if kind == "webhook_subscriptions":
            text = f"“{name}”" if name else f"#{value}"
            live = ident in self.existing.get("webhook_subscriptions", set())
            if live and policy.can_view_webhooks(self.viewer):
                return Shown(text, url_for("webhooks.detail", subscription_id=ident))
            return Shown(text)
        if kind == "webhook_deliveries":
            return Shown(f"#{value}")
        if kind == "api_tokens":
            text = f"“{name}”" if name else f"#{value}"
            url = url_for("api_tokens.index") if policy.can_view_api_tokens(self.viewer) else None
            return Shown(text, url)
        if kind == "export_runs" and ident is not None:
            text = _("#%(id)s", id=ident)
            if policy.can_run_supervisory_export(self.viewer):
                return Shown(text, url_for("records.detail", run_id=ident))
            return Shown(text)
        if kind in ("legal_holds", "retention_periods", "retention_runs"):
            text = _("everything") if kind == "legal_holds" else str(value or MISSING)
            if policy.can_view_retention(self.viewer):
                return Shown(text, url_for("retention.index"))
            return Shown(text)
        if kind == "system" or value in (None, ""):
            return Shown(MISSING)
        noun = TARGET_NOUNS.get(kind)
        return Shown(f"{noun} #{value}" if noun is not None else f"{kind} #{value}")

    # --- a record, read --------------------------------------------------------------------------
    def actor(self, record: AuditRecord) -> Shown:
        if record.actor_id is None:
            label = record.actor_label
            return Shown(str(SYSTEM) if label in ("", "system") else label)
        return self.person(record.actor_id, fallback=record.actor_label)

    def details(self, record: AuditRecord, shown: dict[str, Any]) -> list[DetailItem]:
        items: list[DetailItem] = []
        if "before" in shown and "after" in shown:
            lines = _changes(shown["before"], shown["after"])
            items.append(DetailItem("changes", _label("changes"), [Shown(line) for line in lines]))
        for key, value in sorted(shown.items()):
            if key in ("before", "after") and items and items[0].key == "changes":
                continue
            if key in REF_KEYS and value is not None:
                values = value if isinstance(value, list) else [value]
                parts = [self.ref(REF_KEYS[key], item, {}) for item in values]
                items.append(DetailItem(key, _label(key), parts))
                continue
            items.append(DetailItem(key, _label(key), [Shown(_plain(key, value))]))
        return items

    def read(self, record: AuditRecord) -> ReadableRecord:
        shown = record.shown_details if hasattr(record, "shown_details") else record.details
        shown = dict(shown or {})
        action = ACTIONS.get(record.action)
        target = (
            None
            if record.target_type == "system"
            else self.ref(record.target_type, record.target_id, shown)
        )
        parts: dict[str, Shown] = {
            "actor": self.actor(record),
            "target": target or Shown(MISSING),
            "action": Shown(record.action),
        }
        for key, value in shown.items():
            if key in parts:
                continue
            if key in REF_KEYS:
                parts[key] = self.ref(REF_KEYS[key], value, {})
            else:
                parts[key] = Shown(_plain(key, value))
        if action is None:
            template = str(GENERIC)
            if target is not None and record.target_type in TARGET_NOUNS:
                noun = str(TARGET_NOUNS[record.target_type])
                parts["target"] = Shown(f"{noun} {target.text}", target.url)
        else:
            template = str(action.sentence)
        return ReadableRecord(
            record=record,
            sentence=Sentence(template, parts),
            actor=parts["actor"],
            target=target,
            details=self.details(record, shown),
            known=action is not None,
        )


def readable(viewer: User, records: Sequence[AuditRecord]) -> list[ReadableRecord]:
    """``records`` as ``viewer`` reads them (names and links loaded once per kind)."""
    resolver = Resolver(viewer)
    resolver.collect(records)
    resolver.load()
    return [resolver.read(record) for record in records]


def details_json(record: AuditRecord) -> str:
    shown = record.shown_details if hasattr(record, "shown_details") else record.details
    return json.dumps(shown or {}, sort_keys=True, ensure_ascii=False, default=str)
