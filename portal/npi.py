"""US National Provider Identifier check.

An NPI is ten ASCII digits starting with 1 or 2. Its last digit is a Luhn check digit computed
over the prefix ``80840`` followed by the first nine digits.
"""

from __future__ import annotations

NPI_PREFIX = "80840"


def _luhn_check_digit(payload: str) -> int:
    total = 0
    # Double every second digit starting from the rightmost digit of the payload.
    for position, char in enumerate(reversed(payload)):
        digit = ord(char) - 48
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def with_check_digit(nine_digits: str) -> str:
    """The NPI whose first nine digits are ``nine_digits`` (demo and test data)."""
    return nine_digits + str(_luhn_check_digit(NPI_PREFIX + nine_digits))


def npi_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an NPI, in words for the form, or ``None`` if it is valid."""
    if not isinstance(value, str):
        return "An NPI must be text."
    npi = value.strip(" ")
    if not npi:
        return "Enter your 10-digit NPI."
    if not all("0" <= c <= "9" for c in npi):
        return "An NPI contains digits only (0-9)."
    if len(npi) != 10:
        return f"An NPI has exactly 10 digits; this one has {len(npi)}."
    if npi[0] not in "12":
        return "An NPI starts with 1 or 2."
    if _luhn_check_digit(NPI_PREFIX + npi[:9]) != int(npi[9]):
        return "This NPI's check digit does not match: please check for a typing error."
    return None


def is_valid_npi(value: str) -> bool:
    """True when ``value`` (surrounding spaces allowed) is a well-formed NPI with a valid
    check digit."""
    return npi_problem(value) is None


def normalize_npi(value: str) -> str:
    """The NPI as stored: surrounding spaces removed."""
    return value.strip(" ")
