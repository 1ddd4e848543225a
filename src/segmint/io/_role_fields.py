"""The vocabulary of the column mapping: the fields of each role and the names that fit them.

* :data:`ROLE_FIELDS` -- per role, its canonical fields, whether each is required, and its
  synonyms in English and German (compared after :func:`~segmint.io._mapping.normalise`);
* :data:`EXACT_ONLY`, :data:`PARTIAL_SYNONYMS`, :data:`WEAK_SYNONYMS` -- which fields may be
  matched by a partial name, by which synonyms, and which names fit a field only weakly;
* :data:`IDENTIFIER_FIELDS` -- the fields that identify a person or company.

The matching itself is in :mod:`segmint.io._mapping`.
"""

from __future__ import annotations

_EMAIL = ("email", "emailaddress", "mail", "mailadresse", "emailadresse")
# an account's id, as the accounts table and the contacts (their account) name it
_ACCOUNT_ID = (
    "account",
    "accountid",
    "companyid",
    "orgid",
    "organisationid",
    "organizationid",
    "firmid",
    "customerid",
    "firmennummer",
)
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
        # before the amount, so that a unit price is never taken for a line's or order's value
        "unit_price": (
            False,
            (
                "unitprice",
                "priceeach",
                "itemprice",
                "priceperunit",
                "priceperitem",
                "sellingprice",
                "salesprice",
                "listprice",
                "einzelpreis",
                "stueckpreis",
                "stuckpreis",
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
        "product": (
            False,
            (
                "product",
                "productid",
                "productcode",
                "productno",
                "sku",
                "stockcode",
                "itemid",
                "itemcode",
                "itemno",
                "article",
                "articleid",
                "articleno",
                "artikel",
                "artikelnummer",
                "ean",
                "gtin",
                "upc",
                "asin",
                "isbn",
                "partnumber",
                "materialnumber",
            ),
        ),
        "line_number": (
            False,
            (
                "linenumber",
                "lineno",
                "line",
                "lineid",
                "lineitem",
                "lineitemid",
                "orderline",
                "orderlineid",
                "invoiceline",
                "invoicelineno",
                "position",
                "posnr",
                "positionsnummer",
            ),
        ),
        "status": (
            False,
            (
                "status",
                "orderstatus",
                "transactionstatus",
                "transactiontype",
                "linestatus",
                "returnflag",
                "isreturn",
                "returned",
                "cancelled",
                "canceled",
                "storno",
            ),
        ),
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
        "account_id": (True, (*_ACCOUNT_ID, "id")),
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
        "account_id": (True, _ACCOUNT_ID),
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
        "line_number",  # "line" is in "online", "pipeline", "deadline"
        "status",  # "status" is in "marital_status"
    }
)

# fields whose partial matches use only these (long, specific) synonyms: "price" alone is in
# "totalprice", which is a line's value, not a unit price
PARTIAL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "unit_price": ("unitprice", "priceeach", "priceperunit", "itemprice", "einzelpreis"),
}

# names that fit a field only weakly (0.7, below :data:`MIN_CONFIDENCE`, so a warning says how
# to override them): a bare "price" next to a quantity is a unit price, without one the value
WEAK_SYNONYMS: dict[str, tuple[str, ...]] = {
    "unit_price": ("price", "preis"),
}

# roles whose fields are a closed list (customers and survey may rename any column)
_CLOSED_ROLES = frozenset({"transactions", "events", "accounts", "contacts"})

# the columns of each role that identify a person or company (hashed by ``hash_identifiers``)
IDENTIFIER_FIELDS = frozenset({"customer_id", "account_id", "contact_id", "email"})
