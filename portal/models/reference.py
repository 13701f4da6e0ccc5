"""Reference vocabularies: roles, teams, professions, specialties, countries.

They are enumerations because code branches on them; adding a value is a code change reviewed like
any other.
"""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l

# Labels people read are marked for translation and read in the reader's language when a label
# is asked for (``Role.label`` and the like return plain text); stored values stay English keys.


class Role(enum.StrEnum):
    HCP = "hcp"
    REP = "rep"
    MARKET_ACCESS = "market_access"
    MSL = "msl"
    MEDICAL_INFORMATION = "medical_information"
    PHARMACOVIGILANCE = "pharmacovigilance"
    QUALITY = "quality"
    CONTENT_MANAGER = "content_manager"
    MLR_REVIEWER = "mlr_reviewer"
    COMPLIANCE = "compliance"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])


ROLE_LABELS: dict[Role, Any] = {
    Role.HCP: _l("Healthcare professional"),
    Role.REP: _l("Sales representative"),
    Role.MARKET_ACCESS: _l("Market access specialist"),
    Role.MSL: _l("Medical science liaison"),
    Role.MEDICAL_INFORMATION: _l("Medical information specialist"),
    Role.PHARMACOVIGILANCE: _l("Pharmacovigilance officer"),
    Role.QUALITY: _l("Quality officer"),
    Role.CONTENT_MANAGER: _l("Content manager"),
    Role.MLR_REVIEWER: _l("MLR reviewer"),
    Role.COMPLIANCE: _l("Compliance auditor"),
    Role.ADMIN: _l("Administrator"),
}

STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.HCP)


class Side(enum.StrEnum):
    """Which side of the commercial/medical firewall a role works on."""

    OUTSIDE = "outside"  # the HCPs themselves
    COMMERCIAL = "commercial"
    MEDICAL = "medical"
    NEUTRAL = "neutral"  # content, review, compliance, administration


class TeamKey(enum.StrEnum):
    MEDICAL_INFORMATION = "medical_information"
    MSL = "msl"
    SALES = "sales"
    MARKET_ACCESS = "market_access"
    PHARMACOVIGILANCE = "pharmacovigilance"
    QUALITY = "quality"
    CONTENT = "content"
    MLR_REVIEW = "mlr_review"
    COMPLIANCE = "compliance"


TEAM_NAMES: dict[TeamKey, Any] = {
    TeamKey.MEDICAL_INFORMATION: _l("Medical Information"),
    TeamKey.MSL: _l("MSL team"),
    TeamKey.SALES: _l("Sales"),
    TeamKey.MARKET_ACCESS: _l("Market Access"),
    TeamKey.PHARMACOVIGILANCE: _l("Pharmacovigilance"),
    TeamKey.QUALITY: _l("Quality"),
    TeamKey.CONTENT: _l("Content"),
    TeamKey.MLR_REVIEW: _l("MLR Review"),
    TeamKey.COMPLIANCE: _l("Compliance"),
}


class Profession(enum.StrEnum):
    PHYSICIAN = "physician"
    PHARMACIST = "pharmacist"
    NURSE_PRACTITIONER = "nurse_practitioner"
    PHYSICIAN_ASSISTANT = "physician_assistant"
    NURSE = "nurse"

    @property
    def label(self) -> str:
        return str(PROFESSION_LABELS[self])


PROFESSION_LABELS: dict[Profession, Any] = {
    Profession.PHYSICIAN: _l("Physician"),
    Profession.PHARMACIST: _l("Pharmacist"),
    Profession.NURSE_PRACTITIONER: _l("Nurse practitioner"),
    Profession.PHYSICIAN_ASSISTANT: _l("Physician assistant"),
    Profession.NURSE: _l("Nurse"),
}


class Verification(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


SPECIALTIES: tuple[str, ...] = (
    "Allergy and immunology",
    "Anesthesiology",
    "Cardiology",
    "Dermatology",
    "Endocrinology",
    "Family medicine",
    "Gastroenterology",
    "Geriatrics",
    "Hematology",
    "Hospital pharmacy",
    "Infectious disease",
    "Internal medicine",
    "Nephrology",
    "Neurology",
    "Obstetrics and gynecology",
    "Oncology",
    "Pediatrics",
    "Psychiatry",
    "Pulmonology",
    "Rheumatology",
    "Urology",
    "Other",
)

# The specialties (and the therapeutic areas of the same names) in the reader's language.
SPECIALTY_LABELS: dict[str, Any] = {
    "Allergy and immunology": _l("Allergy and immunology"),
    "Anesthesiology": _l("Anesthesiology"),
    "Cardiology": _l("Cardiology"),
    "Dermatology": _l("Dermatology"),
    "Endocrinology": _l("Endocrinology"),
    "Family medicine": _l("Family medicine"),
    "Gastroenterology": _l("Gastroenterology"),
    "Geriatrics": _l("Geriatrics"),
    "Hematology": _l("Hematology"),
    "Hospital pharmacy": _l("Hospital pharmacy"),
    "Infectious disease": _l("Infectious disease"),
    "Internal medicine": _l("Internal medicine"),
    "Nephrology": _l("Nephrology"),
    "Neurology": _l("Neurology"),
    "Obstetrics and gynecology": _l("Obstetrics and gynecology"),
    "Oncology": _l("Oncology"),
    "Pediatrics": _l("Pediatrics"),
    "Psychiatry": _l("Psychiatry"),
    "Pulmonology": _l("Pulmonology"),
    "Rheumatology": _l("Rheumatology"),
    "Urology": _l("Urology"),
    "Other": _l("Other"),
}


def specialty_label(value: str) -> str:
    """A specialty or therapeutic area as the reader reads it (unknown ones as stored)."""
    label = SPECIALTY_LABELS.get(value)
    return str(label) if label is not None else value


COUNTRIES: dict[str, str] = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "DE": "Germany",
    "AT": "Austria",
    "CH": "Switzerland",
    "FR": "France",
    "BE": "Belgium",
    "NL": "Netherlands",
    "ES": "Spain",
    "PT": "Portugal",
    "IT": "Italy",
    "SE": "Sweden",
    "DK": "Denmark",
    "NO": "Norway",
    "FI": "Finland",
    "PL": "Poland",
    "MX": "Mexico",
    "BR": "Brazil",
    "AR": "Argentina",
    "AU": "Australia",
    "NZ": "New Zealand",
    "JP": "Japan",
}
