"""Check characters and forms of identifiers: known-good and known-bad vectors for each algorithm."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.standard.identifiers import (
    CURRENCIES,
    USCC_CHARACTERS,
    case_number_problem,
    currency_problem,
    passport_problem,
    resident_id_check_character,
    resident_id_problem,
    uscc_check_character,
    uscc_problem,
)

# --- GB 11643-1999: resident identity numbers ------------------------------------------------------

#: valid numbers: the standard's own example (11010519491231002X) and the demo's and fixtures' data
GOOD_IDS = ["11010519491231002X", "110105198001011238", "110102199004204321", "130102199107083212",
            "110108197203153458", "110105197811112220"]


@pytest.mark.parametrize("number", GOOD_IDS)
def test_valid_resident_identity_numbers(number):
    assert resident_id_problem(number) is None
    assert resident_id_check_character(number[:17]) == number[17]


@pytest.mark.parametrize(("number", "words"), [
    ("110105198001011234", "the check character is '4', but the first 17 digits give '8'"),
    ("11010519491231002x", "X is written in capitals"),
    ("110105194912310029", "give 'X'"),
    ("11010519491231002", "has 17 characters"),
    ("1101051949123100200", "has 19 characters"),
    ("11010519491331002X", "19491331 is not a birth date"),
    ("11010518991231002X", "out of range"),
    ("00010519491231002X", "00 is not the code of a province-level division"),
    ("1101051949123100２X", "17 digits and a check character"),  # a full-width digit
    ("", "has 0 characters"),
])
def test_invalid_resident_identity_numbers_say_what_is_wrong(number, words):
    problem = resident_id_problem(number)
    assert problem is not None and words in problem, problem


def test_a_birth_date_after_the_day_of_the_message_is_refused():
    number = "110105202701010016"
    assert resident_id_check_character(number[:17]) == number[17]
    assert resident_id_problem(number) is None
    assert "out of range" in (resident_id_problem(number, on=date(2026, 12, 7)) or "")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_mod_11_2_check_character_detects_every_single_digit_change(first17):
    check = resident_id_check_character(first17)
    for i in range(17):
        changed = first17[:i] + str((int(first17[i]) + 1) % 10) + first17[i + 1:]
        assert resident_id_check_character(changed) != check


def test_the_check_character_is_computed_over_17_digits_only():
    with pytest.raises(ValueError):
        resident_id_check_character("1101051949123100")
    with pytest.raises(ValueError):
        resident_id_check_character("1101051949123100a")


# --- GB 32100-2015: unified social credit codes ---------------------------------------------------

#: valid codes: published codes of well-known companies, and the demo's and fixtures' data
GOOD_CODES = ["914403001922038216", "91330100716105852F", "91440300708461136T", "91110000100010433L",
              "91110105MA01ABCD26", "91110105MA01R2XK33", "31110000E00017891P", "91110000802100433B",
              "91110105802100433Q", "11110105000021345F"]


@pytest.mark.parametrize("code", GOOD_CODES)
def test_valid_unified_social_credit_codes(code):
    assert uscc_problem(code) is None
    assert uscc_check_character(code[:17]) == code[17]


@pytest.mark.parametrize(("code", "words"), [
    ("91110105MA01ABCD2X", "the check character is 'X', but the first 17 characters give '6'"),  # the old demo code
    ("91110105MA01R2XK3L", "give '3'"),
    ("91110105MA01ABCDI6", "has 'I'"),
    ("91110105ma01abcd26", "capital letters"),
    ("911101X5MA01ABCD26", "administrative division code"),
    ("91110105MA01ABCD2", "has 17 characters"),
    ("", "has 0 characters"),
])
def test_invalid_unified_social_credit_codes_say_what_is_wrong(code, words):
    problem = uscc_problem(code)
    assert problem is not None and words in problem, problem


@given(st.text(alphabet=USCC_CHARACTERS, min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 30))
def test_the_mod_31_check_character_detects_every_single_character_change(first17, at, delta):
    changed = first17[:at] + USCC_CHARACTERS[(USCC_CHARACTERS.index(first17[at]) + delta) % 31] + first17[at + 1:]
    assert uscc_check_character(changed) != uscc_check_character(first17)


# --- case numbers, passports, currencies ----------------------------------------------------------


@pytest.mark.parametrize("text", ["（2026）京0105执123号", "(2026)京0105执123号", "（2026）京02执恢88号",
                                  "（2026）最高法民终12号", "（2026）京0105民诉前调1234号", "（2023）京0105刑初456号",
                                  "（1949）京民1号", "（2026）兵0101执5号", "（2026）沪72民初1号"])
def test_case_numbers_in_the_spc_form(text):
    assert case_number_problem(text, latest_year=2027) is None


@pytest.mark.parametrize(("text", "words"), [
    ("（2026）京0105执0123号", "is not a case number"),  # leading zero
    ("（2026）京0105执0号", "is not a case number"),
    ("京0105执123号", "is not a case number"),  # no year
    ("（2026）京0105执123", "is not a case number"),  # no 号
    ("（2026）京0105123号", "is not a case number"),  # no case type
    ("（2026）京010505执1号", "is not a case number"),  # a court code of six digits
    ("（2026）X0105执1号", "is not a case number"),
    ("〔2026〕京0105执1号", "is not a case number"),  # a document number's brackets
    ("（2026）京0105执1号之一", "is not a case number"),  # a document number
    ("（2026）京0105执\x001号", "is not a case number"),
    ("", "is not a case number"),
    ("（1900）京0105执1号", "year 1900 is out of range"),
    ("（2028）京0105执1号", "year 2028 is out of range"),
])
def test_malformed_case_numbers(text, words):
    problem = case_number_problem(text, latest_year=2027)
    assert problem is not None and words in problem, problem


def test_a_long_bad_value_is_quoted_short_with_its_control_characters_escaped():
    problem = case_number_problem("\u202e" + "京" * 500)
    assert problem is not None and "\\u202e" in problem and "(501 characters)" in problem and len(problem) < 300


@pytest.mark.parametrize(("number", "ok"), [("E12345678", True), ("G1234567", True), ("P12345", True),
                                            ("e12345678", False), ("E123", False), ("E 12345678", False),
                                            ("", False), ("A" * 21, False)])
def test_passport_numbers(number, ok):
    assert (passport_problem(number) is None) == ok


def test_the_iso_4217_list_holds_current_codes_with_their_minor_units():
    assert CURRENCIES["CNY"] == 2 and CURRENCIES["JPY"] == 0 and CURRENCIES["KWD"] == 3 and CURRENCIES["CLF"] == 4
    assert CURRENCIES["XAU"] is None  # gold: no minor unit
    assert {"USD", "EUR", "HKD", "MOP", "TWD", "GBP"} <= set(CURRENCIES)
    assert not {"XTS", "XXX", "RMB", "HRK", "VEF"} & set(CURRENCIES)  # test and none, not ISO, withdrawn
    assert all(len(c) == 3 and c.isupper() and c.isascii() for c in CURRENCIES)
    assert 150 < len(CURRENCIES) < 200
    assert currency_problem("CNY") is None
    assert "not an ISO 4217 currency code" in (currency_problem("人民币") or "")
    assert currency_problem("cny") is not None
