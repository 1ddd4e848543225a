"""Mapping the columns of a user's file to the roles segmint understands.

Each role (``transactions``, ``customers``, ``events``, ``survey``, ``accounts``, ``contacts``)
has canonical fields, some required. A file's columns are matched to fields by normalised name:
the canonical name itself (confidence 1.0), a known synonym in English or German (0.9), or a name
that contains a synonym (0.6; not for the fields in :data:`EXACT_ONLY`). An explicit mapping from
``segmint.yaml`` always wins (confidence 1.0, ``source="config"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmint.exceptions import InputError

_EMAIL = ("email", "emailaddress", "mail", "mailadresse", "emailadresse")
_WEIGHT = ("weight", "surveyweight", "designweight", "wt", "weightfactor", "gewicht", "weighting")

# field -> (required, synonyms); synonyms are compared after normalisation (lower, alnum only)
ROLE_FIELDS: dict[str, dict[str, tuple[bool, tuple[str, ...]]]] = {
    "transactions": {
        "customer_id": (
            True,
            (
                "customer",
                "customerid",
                "custid",
                "cust",
                "clientid",
                "client",
                "memberid",
                "userid",
                "accountid",
                "kundennummer",
                "kundenid",
                "kunde",
                "buyerid",
                "shopperid",
            ),
        ),
        "order_date": (
            True,
            (
                "date",
                "orderdate",
                "invoicedate",
                "transactiondate",
                "purchasedate",
                "datum",
                "bestelldatum",
                "timestamp",
                "createdat",
                "orderedat",
                "txdate",
                "saledate",
            ),
        ),
        "amount": (
            True,
            (
                "amount",
                "dollarvalue",
                "revenue",
                "sales",
                "value",
                "total",
                "ordervalue",
                "netamount",
                "grossamount",
                "umsatz",
                "betrag",
                "spend",
                "price",
                "totalprice",
                "salesamount",
                "orderamount",
                "linetotal",
            ),
        ),
        "order_id": (
            False,
            (
                "orderid",
                "invoiceno",
                "invoice",
                "invoiceid",
                "transactionid",
                "orderno",
                "ordernumber",
                "bestellnummer",
                "receiptid",
                "basketid",
            ),
        ),
        "quantity": (
            False,
            ("quantity", "qty", "numberofcds", "units", "items", "menge", "anzahl", "count"),
        ),
        "category": (
            False,
            ("category", "productcategory", "department", "kategorie", "productgroup", "segment"),
        ),
        "channel": (False, ("channel", "saleschannel", "kanal", "source", "storetype")),
        "discount": (False, ("discount", "discountamount", "rabatt", "promo", "couponvalue")),
    },
    "customers": {
        "customer_id": (
            True,
            (
                "customer",
                "customerid",
                "custid",
                "clientid",
                "memberid",
                "userid",
                "accountid",
                "kundennummer",
                "kundenid",
                "id",
            ),
        ),
        "email": (False, _EMAIL),
        "weight": (False, _WEIGHT),
        "age": (False, ("age", "alter", "ageyears")),
        "gender": (False, ("gender", "sex", "geschlecht")),
        "country": (False, ("country", "countrycode", "land", "nation")),
        "signup_date": (
            False,
            (
                "signupdate",
                "registrationdate",
                "registeredat",
                "customersince",
                "joindate",
                "firstseen",
                "anmeldedatum",
            ),
        ),
    },
    "events": {
        "customer_id": (
            True,
            (
                "customer",
                "customerid",
                "custid",
                "clientid",
                "memberid",
                "userid",
                "visitorid",
                "kundennummer",
                "kundenid",
                "uid",
            ),
        ),
        "event_time": (
            True,
            (
                "eventtime",
                "timestamp",
                "ts",
                "time",
                "eventdate",
                "eventtimestamp",
                "occurredat",
                "createdat",
                "datetime",
                "date",
                "zeitpunkt",
                "zeitstempel",
            ),
        ),
        "event_type": (
            True,
            ("eventtype", "event", "eventname", "action", "type", "activity", "ereignis"),
        ),
        "event_id": (False, ("eventid", "eventuuid", "messageid", "hitid")),
        "session_id": (False, ("sessionid", "session", "visitid")),
        "device": (False, ("device", "devicetype", "devicecategory", "geraet", "gerat")),
        "platform": (False, ("platform", "appweb", "client", "plattform", "source")),
        "os": (False, ("os", "operatingsystem", "osname", "betriebssystem")),
    },
    "survey": {
        "customer_id": (
            True,
            (
                "respondent",
                "respondentid",
                "respid",
                "caseid",
                "case",
                "serial",
                "interviewid",
                "responseid",
                "participantid",
                "customer",
                "customerid",
                "custid",
                "userid",
                "memberid",
                "kundennummer",
                "id",
            ),
        ),
        "weight": (False, _WEIGHT),
    },
    "accounts": {
        "account_id": (
            True,
            (
                "account",
                "accountid",
                "companyid",
                "orgid",
                "organisationid",
                "organizationid",
                "firmid",
                "customerid",
                "firmennummer",
                "id",
            ),
        ),
        "name": (False, ("name", "accountname", "companyname", "company", "firma", "firmenname")),
        "industry": (
            False,
            ("industry", "sector", "branche", "vertical", "naics", "sic", "industrysector"),
        ),
        "employees": (
            False,
            (
                "employees",
                "employeecount",
                "numberofemployees",
                "headcount",
                "staff",
                "fte",
                "mitarbeiter",
                "anzahlmitarbeiter",
            ),
        ),
        "annual_revenue": (
            False,
            (
                "annualrevenue",
                "revenue",
                "yearlyrevenue",
                "turnover",
                "sales",
                "jahresumsatz",
                "umsatz",
            ),
        ),
        "country": (False, ("country", "countrycode", "hqcountry", "land", "nation")),
        "created_date": (
            False,
            (
                "createddate",
                "createdat",
                "created",
                "customersince",
                "accountcreated",
                "startdate",
                "since",
                "angelegtam",
            ),
        ),
    },
    "contacts": {
        "contact_id": (
            True,
            ("contact", "contactid", "personid", "leadid", "kontaktid", "ansprechpartnerid", "id"),
        ),
        "account_id": (
            True,
            (
                "account",
                "accountid",
                "companyid",
                "orgid",
                "organisationid",
                "organizationid",
                "firmid",
                "customerid",
                "firmennummer",
            ),
        ),
        "role": (
            False,
            (
                "role",
                "title",
                "jobtitle",
                "position",
                "buyingrole",
                "decisionrole",
                "contactrole",
                "persona",
                "funktion",
            ),
        ),
        "email": (False, _EMAIL),
        "name": (False, ("name", "fullname", "contactname")),
        "created_date": (False, ("createddate", "createdat", "created", "since")),
    },
}

# fields matched by their exact name or a synonym only, never by a partial name: a column
# ``email_consent`` is not an e-mail address and ``weight_kg`` is not a survey weight
EXACT_ONLY = frozenset(
    {
        "email",
        "weight",
        "name",
        "os",
        "event_id",
        "session_id",
        "age",
        "gender",
        "country",
        "signup_date",
    }
)

# roles whose fields are a closed list (customers and survey may rename any column)
_CLOSED_ROLES = frozenset({"transactions", "events", "accounts", "contacts"})

# the columns of each role that identify a person or company (hashed by ``hash_identifiers``)
IDENTIFIER_FIELDS = frozenset({"customer_id", "account_id", "contact_id", "email"})


@dataclass(frozen=True)
class ColumnMatch:
    """One field of a role matched to a column of the file."""

    field: str
    column: str
    confidence: float
    source: str  # "config", "exact", "synonym" or "partial"


def normalise(name: str) -> str:
    """Lower-case a column name and keep letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def map_columns(
    columns: list[str],
    role: str,
    *,
    explicit: dict[str, str] | None = None,
    path: str = "",
) -> dict[str, ColumnMatch]:
    """Match ``columns`` of a file to the fields of ``role``.

    Parameters
    ----------
    columns : list of str
        Column names as found in the file.
    role : {"transactions", "customers", "events", "survey", "accounts", "contacts"}
        What the file holds.
    explicit : dict, optional
        ``field -> column`` from the config; overrides detection.
    path : str
        File name, for error messages.

    Returns
    -------
    dict
        ``field -> ColumnMatch`` for every field found.

    Raises
    ------
    InputError
        A required field is not found, or an explicit mapping names a column the file lacks.
    """
    if role not in ROLE_FIELDS:
        raise InputError(
            f"{path}: unknown role '{role}'.", hint=f"Roles: {', '.join(ROLE_FIELDS)}."
        )
    fields = ROLE_FIELDS[role]
    explicit = dict(explicit or {})
    matches: dict[str, ColumnMatch] = {}
    for field_name, column in explicit.items():
        if field_name not in fields and role in _CLOSED_ROLES:
            raise InputError(
                f"{path}: the mapping names an unknown field '{field_name}' for {role}.",
                hint=f"Known fields: {', '.join(fields)}.",
            )
        if column not in columns:
            raise InputError(
                f"{path}: the mapping says {field_name} is column '{column}', "
                f"but the file has no such column.",
                hint=f"Columns in the file: {', '.join(columns)}.",
            )
        matches[field_name] = ColumnMatch(field_name, column, 1.0, "config")

    taken = {m.column for m in matches.values()}
    normalised = {c: normalise(c) for c in columns}
    for field_name, (_, synonyms) in fields.items():
        if field_name in matches:
            continue
        best: ColumnMatch | None = None
        for column, norm in normalised.items():
            if column in taken:
                continue
            if norm == normalise(field_name):
                candidate = ColumnMatch(field_name, column, 1.0, "exact")
            elif norm in synonyms:
                candidate = ColumnMatch(field_name, column, 0.9, "synonym")
            elif field_name not in EXACT_ONLY and any(len(s) >= 4 and s in norm for s in synonyms):
                candidate = ColumnMatch(field_name, column, 0.6, "partial")
            else:
                continue
            if best is None or candidate.confidence > best.confidence:
                best = candidate
        if best is not None:
            matches[field_name] = best
            taken.add(best.column)

    missing = [f for f, (required, _) in fields.items() if required and f not in matches]
    if missing:
        raise InputError(
            f"{path}: no column found for {', '.join(missing)} ({role}).",
            hint=(
                f"Columns in the file: {', '.join(columns)}. Name them in segmint.yaml, e.g. "
                f"mapping: {{{role}: {{{missing[0]}: <column>}}}}."
            ),
        )
    return matches


def _evidence(match: ColumnMatch, synonyms: tuple[str, ...]) -> bool:
    if match.source != "partial":
        return True
    norm = normalise(match.column)
    return any(len(s) >= 5 and s in norm for s in synonyms)


# tie-break order when two roles fit a file equally well
_ROLE_ORDER = ("transactions", "customers", "events", "survey", "accounts", "contacts")


def guess_role(columns: list[str], *, likert_share: float = 0.0) -> tuple[str | None, dict]:
    """The role a file most likely plays, from its column names (and a hint from its values).

    Each role whose required fields are all found (partial matches count only through a
    synonym of five or more letters) scores twice the number of its required
    fields times their mean confidence, plus the confidences of its optional fields: a file that
    fits a specific role (three required fields of a transaction log) beats one that only has an
    id. ``likert_share`` (the share of columns holding small integers such as 1-5 answers) adds
    2 to ``survey`` when above one half.

    Returns
    -------
    (role or None, {role: score})
    """
    scores: dict[str, float] = {}
    for role, fields in ROLE_FIELDS.items():
        try:
            matches = map_columns(columns, role)
        except InputError:
            continue
        # a partial match on a short generic synonym ("date" in signup_date, "type" in
        # area_type) is no evidence that the file plays this role
        strong = {f: m for f, m in matches.items() if _evidence(m, fields[f][1])}
        required = [f for f, (req, _) in fields.items() if req]
        if any(f not in strong for f in required):
            continue
        mean_req = sum(strong[f].confidence for f in required) / len(required)
        optional = sum(m.confidence for f, m in strong.items() if not fields[f][0])
        score = 2 * len(required) * mean_req + optional
        if role == "survey" and likert_share > 0.5:
            score += 2
        scores[role] = round(score, 3)
    if not scores:
        return None, scores
    best = max(scores, key=lambda r: (scores[r], -_ROLE_ORDER.index(r)))
    return best, scores
