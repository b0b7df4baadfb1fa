"""The identifiers payloads carry, checked by their published form and check character (pure).

- Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters from a 31-character
  set (digits and capital letters without I, O, S, V, Z); characters 3-8 are the administrative
  division code; the 18th is a check character over the first 17, weighted by 3^i mod 31.
- Resident identity number (公民身份号码), GB 11643-1999: 17 digits (a province code, the rest of
  the address code, the birth date YYYYMMDD, a sequence number) and a check character, ISO 7064
  MOD 11-2 over the first 17 (``X`` stands for 10).
- Passport numbers: 5 to 20 capital letters and digits (no check character is published).
- Case numbers (案号), as the Supreme People's Court's provisions on case numbers give them:
  ``（year）court code + case-type characters + serial number + 号``, for example
  ``（2026）京0105执123号``; full-width or ASCII parentheses.
- Currencies: ISO 4217 list one (current currencies and funds) with each one's minor units.

Every ``*_problem`` function returns None for a valid value, else one sentence saying what is wrong.
"""

from __future__ import annotations

import re
from datetime import date
from operator import mul

#: GB 32100-2015: the 31 characters a unified social credit code is written with, in value order
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARACTERS)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_FORM = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}")

#: GB 11643-1999: weights 2^(17-i) mod 11 of the 17 digits, and the check character of each remainder
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
#: what the weighted sum of the digits' ASCII codes exceeds the weighted sum of the digits by
_ID_ZERO = ord("0") * sum(_ID_WEIGHTS)
#: the province-level codes an address code starts with (GB/T 2260; 71 Taiwan, 81 Hong Kong, 82 Macao,
#: 83 the residence permits of Taiwan residents)
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
})

_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")

#: the court codes (法院代字) a case number names: the Supreme People's Court, or a province-level
#: code (with 兵 for the Xinjiang Production and Construction Corps and 军 for military courts) and up
#: to four digits for an intermediate, basic or specialised court; both usual codes of Inner Mongolia,
#: Guizhou and Yunnan are taken
_COURT_CODE = r"(?:最高法|[京津冀晋内蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔贵云滇藏陕甘青宁新兵军]\d{0,4})"
_CASE_NUMBER = re.compile(r"[（(](?P<year>\d{4})[）)]" + _COURT_CODE +
                          r"(?P<kind>[\u4e00-\u9fff]{1,6})(?P<serial>[1-9]\d{0,7})号")
#: the earliest year a case number of the People's Republic's courts can carry
FIRST_CASE_YEAR = 1949


def _q(text: str, most: int = 40) -> str:
    """``text`` quoted for a message: control and formatting characters escaped, at most ``most`` characters."""
    return repr(text) if len(text) <= most else repr(text[:most]) + f"… ({len(text)} characters)"


def uscc_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of a code's first 17 characters (all of the 31-character set)."""
    if len(first17) != 17:
        raise ValueError("the check character is computed over 17 characters")
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, first17), _USCC_WEIGHTS))
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """What is wrong with a unified social credit code, or None."""
    if len(code) != 18:
        return f"{_q(code)} has {len(code)} characters, not 18"
    if _USCC_FORM.fullmatch(code) is None:
        bad = sorted({c for c in code if c not in _USCC_VALUE})
        return (f"{code!r} has {', '.join(repr(c) for c in bad)}: a code is written with digits and the capital "
                "letters other than I, O, S, V and Z")
    if not code[2:8].isdigit():
        return f"{code!r}: characters 3 to 8 are the administrative division code, six digits"
    want = uscc_check_character(code[:17])
    if code[17] != want:
        return f"{code!r}: the check character is {code[17]!r}, but the first 17 characters give {want!r}"
    return None


def resident_id_check_character(first17: str) -> str:
    """The GB 11643-1999 (ISO 7064 MOD 11-2) check character of a number's first 17 digits."""
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise ValueError("the check character is computed over 17 digits")
    return _ID_CHECK[(sum(map(mul, first17.encode("ascii"), _ID_WEIGHTS)) - _ID_ZERO) % 11]


def resident_id_problem(number: str, *, on: date | None = None) -> str | None:
    """What is wrong with an 18-character resident identity number, or None; ``on``: a birth date
    after that day is refused too."""
    if len(number) != 18:
        return f"{_q(number)} has {len(number)} characters, not 18"
    if not number.isascii() or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        hint = " (the check character X is written in capitals)" if number[17] == "x" else ""
        return f"{number!r}: 17 digits and a check character, a digit or X{hint}"
    if number[:2] not in _PROVINCES:
        return f"{number!r}: {number[:2]} is not the code of a province-level division"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return f"{number!r}: {number[6:14]} is not a birth date (YYYYMMDD)"
    if born.year < 1900 or (on is not None and born > on):
        return f"{number!r}: birth date {born.isoformat()} is out of range"
    want = resident_id_check_character(number[:17])
    if number[17] != want:
        return f"{number!r}: the check character is {number[17]!r}, but the first 17 digits give {want!r}"
    return None


def passport_problem(number: str) -> str | None:
    """What is wrong with a passport number, or None: 5 to 20 capital letters and digits."""
    if _PASSPORT.fullmatch(number) is None:
        return f"{_q(number)}: a passport number is 5 to 20 capital letters and digits"
    return None


def case_number_problem(text: str, *, latest_year: int | None = None) -> str | None:
    """What is wrong with a case number, or None; ``latest_year``: a later year is refused too."""
    m = _CASE_NUMBER.fullmatch(text)
    if m is None:
        return (f"{_q(text)} is not a case number of the form （year）court code, case type, serial number and 号, "
                "e.g. （2026）京0105执123号")
    year = int(m["year"])
    if year < FIRST_CASE_YEAR or (latest_year is not None and year > latest_year):
        return f"{text!r}: year {year} is out of range"
    return None


def _units(spec: str) -> dict[str, int | None]:
    """``"AED2 BIF0 XAU-"`` -> {"AED": 2, "BIF": 0, "XAU": None}: codes with their minor units."""
    out: dict[str, int | None] = {}
    for item in spec.split():
        out[item[:3]] = None if item[3:] == "-" else int(item[3:])
    return out


#: ISO 4217 list one (current currencies and funds, 2025), each code with its minor units (None where
#: the standard gives none: precious metals, units of account); the codes reserved for tests and for
#: "no currency" (XTS, XXX) are not currencies a payment is made in and are left out
CURRENCIES: dict[str, int | None] = _units("""
    AED2 AFN2 ALL2 AMD2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0 BMD2 BND2 BOB2 BOV2 BRL2
    BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHE2 CHF2 CHW2 CLF4 CLP0 CNY2 COP2 COU2 CRC2 CUP2 CVE2 CZK2 DJF0
    DKK2 DOP2 DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2
    HUF2 IDR2 ILS2 INR2 IQD3 IRR2 ISK0 JMD2 JOD3 JPY0 KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2
    LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MXV2 MYR2 MZN2
    NAD2 NGN2 NIO2 NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 SAR2
    SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 TOP2 TRY2
    TTD2 TWD2 TZS2 UAH2 UGX0 USD2 USN2 UYI0 UYU2 UYW4 UZS2 VED2 VES2 VND0 VUV0 WST2 XAF0 XAG- XAU- XBA-
    XBB- XBC- XBD- XCD2 XCG2 XDR- XOF0 XPD- XPF0 XPT- XSU- XUA- YER2 ZAR2 ZMW2 ZWG2
""")


def currency_problem(code: str) -> str | None:
    """What is wrong with a currency code, or None: one of :data:`CURRENCIES`."""
    if code not in CURRENCIES:
        return f"{_q(code)} is not an ISO 4217 currency code (e.g. CNY)"
    return None


__all__ = ["CURRENCIES", "FIRST_CASE_YEAR", "USCC_CHARACTERS", "case_number_problem", "currency_problem",
           "passport_problem", "resident_id_check_character", "resident_id_problem", "uscc_check_character",
           "uscc_problem"]
