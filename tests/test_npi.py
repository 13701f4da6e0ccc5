"""The US NPI check: ten ASCII digits, starting with 1 or 2, Luhn check digit over "80840" + the
first nine digits. The expected values below were computed independently of portal.npi."""

from __future__ import annotations

import pytest

from portal.npi import is_valid_npi, normalize_npi, npi_problem


def in_digits_of(zero: int, ascii_digits: str = "1234567893") -> str:
    """``ascii_digits`` written with the Unicode digits whose zero is code point ``zero``."""
    return "".join(chr(zero + int(d)) for d in ascii_digits)


ARABIC_INDIC_ZERO = 0x0660
DEVANAGARI_ZERO = 0x0966
FULLWIDTH_ZERO = 0xFF10

VALID = [
    "1234567893",  # the textbook example
    "1987654328",
    "1456789019",
    "1000000004",
    "1111111112",
    "2000000002",  # organisations' NPIs start with 2
    "2222222228",
    "2765432101",
    "2999999990",
]


@pytest.mark.parametrize("npi", VALID)
def test_well_formed_npi_with_matching_check_digit_is_valid(npi):
    assert is_valid_npi(npi)
    assert npi_problem(npi) is None


@pytest.mark.parametrize("npi", [" 1234567893", "1234567893 ", "   2000000002  "])
def test_surrounding_spaces_are_tolerated(npi):
    assert is_valid_npi(npi)
    assert normalize_npi(npi) == npi.strip(" ")


# (value, words the message must contain)
INVALID = [
    pytest.param("1234567890", "check digit", id="wrong-check-digit"),
    pytest.param("1234567894", "check digit", id="check-digit-off-by-one"),
    pytest.param("2000000003", "check digit", id="wrong-check-digit-type-2"),
    pytest.param("1324567893", "check digit", id="transposed-digits"),
    pytest.param("123456784", "10 digits", id="nine-digits"),
    pytest.param("12345678905", "10 digits", id="eleven-digits"),
    pytest.param("1", "10 digits", id="one-digit"),
    pytest.param("123456789A", "digits only", id="letter-at-end"),
    pytest.param("l234567893", "digits only", id="letter-l-for-one"),
    pytest.param("abcdefghij", "digits only", id="all-letters"),
    pytest.param(in_digits_of(ARABIC_INDIC_ZERO), "digits only", id="arabic-indic-digits"),
    pytest.param(in_digits_of(FULLWIDTH_ZERO), "digits only", id="fullwidth-digits"),
    pytest.param(in_digits_of(DEVANAGARI_ZERO), "digits only", id="devanagari-digits"),
    pytest.param("123456789\u00b3", "digits only", id="superscript-three"),
    pytest.param("12345 67893", "digits only", id="inner-space"),
    pytest.param("123-456-7893", "digits only", id="dashes"),
    pytest.param("1234.567893", "digits only", id="dot"),
    pytest.param("+1234567893", "digits only", id="plus-sign"),
    pytest.param("\t1234567893", "digits only", id="leading-tab"),
    pytest.param("1234567893\n", "digits only", id="trailing-newline"),
    pytest.param("\r\n1234567893", "digits only", id="leading-crlf"),
    pytest.param("\u00a01234567893", "digits only", id="leading-no-break-space"),
    pytest.param("", "Enter", id="empty"),
    pytest.param("   ", "Enter", id="spaces-only"),
    pytest.param("0234567895", "1 or 2", id="starts-with-0"),
    pytest.param("3234567899", "1 or 2", id="starts-with-3"),
    pytest.param("4234567897", "1 or 2", id="starts-with-4"),
    pytest.param("5234567894", "1 or 2", id="starts-with-5"),
    pytest.param("6234567892", "1 or 2", id="starts-with-6"),
    pytest.param("7234567890", "1 or 2", id="starts-with-7"),
    pytest.param("8234567898", "1 or 2", id="starts-with-8"),
    pytest.param("9876543213", "1 or 2", id="starts-with-9"),
]


@pytest.mark.parametrize(("value", "words"), INVALID)
def test_malformed_npi_is_invalid(value, words):
    assert not is_valid_npi(value)


@pytest.mark.parametrize(("value", "words"), INVALID)
def test_npi_problem_explains_what_is_wrong_in_words(value, words):
    problem = npi_problem(value)
    assert problem is not None
    assert words.lower() in problem.lower()
    # A message for a person, not a code or a trace.
    assert problem.endswith(".")
    assert problem[0].isupper()


def test_length_message_counts_the_digits_given():
    assert "9" in (npi_problem("123456784") or "")
    assert "11" in (npi_problem("12345678905") or "")


def test_unicode_digits_really_are_digits_to_python():
    # The point of those cases: str.isdigit() and int() accept them, an NPI does not.
    for zero in (ARABIC_INDIC_ZERO, DEVANAGARI_ZERO, FULLWIDTH_ZERO):
        assert in_digits_of(zero).isdigit()
        assert int(in_digits_of(zero)) == 1234567893


@pytest.mark.parametrize("value", [None, 1234567893, b"1234567893"])
def test_non_text_is_not_an_npi(value):
    assert not is_valid_npi(value)  # type: ignore[arg-type]
    assert npi_problem(value)  # type: ignore[arg-type]
