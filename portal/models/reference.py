"""Reference vocabularies: roles, teams, professions, specialties, countries.

They are enumerations because code branches on them; adding a value is a code change reviewed like
any other.
"""

from __future__ import annotations

import enum


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
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.HCP: "Healthcare professional",
    Role.REP: "Sales representative",
    Role.MARKET_ACCESS: "Market access specialist",
    Role.MSL: "Medical science liaison",
    Role.MEDICAL_INFORMATION: "Medical information specialist",
    Role.PHARMACOVIGILANCE: "Pharmacovigilance officer",
    Role.QUALITY: "Quality officer",
    Role.CONTENT_MANAGER: "Content manager",
    Role.MLR_REVIEWER: "MLR reviewer",
    Role.COMPLIANCE: "Compliance auditor",
    Role.ADMIN: "Administrator",
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


TEAM_NAMES: dict[TeamKey, str] = {
    TeamKey.MEDICAL_INFORMATION: "Medical Information",
    TeamKey.MSL: "MSL team",
    TeamKey.SALES: "Sales",
    TeamKey.MARKET_ACCESS: "Market Access",
    TeamKey.PHARMACOVIGILANCE: "Pharmacovigilance",
    TeamKey.QUALITY: "Quality",
    TeamKey.CONTENT: "Content",
    TeamKey.MLR_REVIEW: "MLR Review",
    TeamKey.COMPLIANCE: "Compliance",
}


class Profession(enum.StrEnum):
    PHYSICIAN = "physician"
    PHARMACIST = "pharmacist"
    NURSE_PRACTITIONER = "nurse_practitioner"
    PHYSICIAN_ASSISTANT = "physician_assistant"
    NURSE = "nurse"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


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
