"""Money as the CLI and the report show it: in the currency a user states, or as plain numbers.

segmint never guesses a currency: a log's amounts carry no unit. With ``io.currency`` (an ISO
4217 code such as ``GBP``) money is written with its symbol (``£1,447,682.12``) or, for a
currency without an unambiguous symbol, its code (``CHF 1,234.50``); without it, as a plain
number (``1,447,682.12``). Negative sums carry a minus sign before the symbol (``−£608.7k``).
"""

from __future__ import annotations

#: Active ISO 4217 currency codes (``io.currency`` must be one of them).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
    XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)

#: Currencies written with a symbol; every other code is written as the code before the number.
SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "INR": "₹", "KRW": "₩"}

MINUS = "−"


def currency_code(value: str | None) -> str | None:
    """``value`` as an upper-case ISO 4217 code (``None`` stays ``None``); ``ValueError`` if it
    is not one."""
    if value is None:
        return None
    code = str(value).strip().upper()
    if code not in ISO_4217:
        raise ValueError(
            f"'{value}' is not an ISO 4217 currency code (e.g. GBP, EUR, USD; or leave it unset "
            "for plain numbers)"
        )
    return code


def money(value: float, currency: str | None = None, *, compact: bool = False) -> str:
    """``value`` as money: ``£1,447,682.12`` (``compact``: ``£1.45M``, ``£21.5k``).

    Without ``currency`` the number has no symbol (``1,447,682.12``).
    """
    amount = abs(float(value))
    if compact and amount >= 999_500:
        text = f"{amount / 1e6:,.2f}M"
    elif compact and amount >= 1_000:
        text = f"{amount / 1e3:,.1f}k"
    else:
        text = f"{amount:,.2f}"
    if currency:
        symbol = SYMBOLS.get(currency)
        text = f"{symbol}{text}" if symbol else f"{currency}\u00a0{text}"
    return (MINUS if round(float(value), 2) < 0 else "") + text
