"""Firmographic features of B2B accounts: the company and its decision-making unit.

From the ``accounts`` table (one row per account: id, industry, employees, yearly revenue,
country, created date) the industry, employee band, revenue band, country and account tenure;
from the ``contacts`` table (one row per contact: account id, role) the number of contacts, of
distinct roles, and of contacts per role (decision maker, influencer, user, ...). In a B2B run the
account is the customer: ``customer_id`` is the account id. Accounts created on or after the
snapshot, and contacts created on or after it (when the table has a created date), are left out.
"""

from __future__ import annotations

from segmint.exceptions import InputError
from segmint.features._catalogue import (
    Block,
    Feature,
    PlanContext,
    band_case,
    find_column,
    ident,
    is_numeric,
    level_condition,
    level_order,
    slug,
    top_levels,
)

EMPLOYEE_EDGES = [10, 50, 250, 1000]
EMPLOYEE_BANDS = ["1-9", "10-49", "50-249", "250-999", "1000+"]
REVENUE_EDGES = [1e6, 1e7, 5e7, 2.5e8]
REVENUE_BANDS = ["<1M", "1-10M", "10-50M", "50-250M", "250M+"]
_ACCOUNT_ID = ("account_id", "customer_id", "company_id", "org_id", "id")
_CREATED = ("created_date", "created_at", "customer_since", "account_created", "start_date")


def account_id_column(cols: dict[str, str], role: str) -> str:
    found = find_column(cols, *_ACCOUNT_ID)
    if found is None:
        raise InputError(
            f"The {role} table has no account id (columns: {', '.join(cols)}).",
            hint="Name the account id column account_id.",
        )
    return found


def _select(acc: str, used: set[str]) -> str:
    """``customer_id`` (the account id as text) and the columns the definitions use."""
    others = [ident(c) for c in sorted(used - {acc, "customer_id"})]
    return ", ".join([f"CAST({ident(acc)} AS VARCHAR) AS customer_id", *others])


def population_sql(ctx: PlanContext) -> str:
    """The accounts that exist at the snapshot: the population of a B2B run."""
    cols = ctx.cols("accounts")
    acc = account_id_column(cols, "accounts")
    created = find_column(cols, *_CREATED)
    where = f" WHERE {ident(created)} < $snapshot" if created else ""
    return f"SELECT DISTINCT CAST({ident(acc)} AS VARCHAR) AS customer_id FROM $accounts{where}"


def _band(
    cols: dict[str, str],
    ctx: PlanContext,
    band_aliases: tuple[str, ...],
    value_aliases: tuple[str, ...],
    edges: list[float],
    labels: list[str],
    used: set[str],
) -> tuple[str, tuple[str, ...]] | None:
    band = find_column(cols, *band_aliases)
    if band is not None:
        used.add(band)
        raw = ctx.con.execute(
            f"SELECT DISTINCT trim(CAST({ident(band)} AS VARCHAR)) "
            f"FROM {ident(ctx.tables['accounts'])} WHERE {ident(band)} IS NOT NULL"
        ).fetchall()
        return f"nullif(trim(CAST({ident(band)} AS VARCHAR)), '')", level_order(r[0] for r in raw)
    value = find_column(cols, *value_aliases)
    if value is not None and is_numeric(cols[value]):
        used.add(value)
        return band_case(f"CAST({ident(value)} AS DOUBLE)", edges, labels), tuple(labels)
    return None


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Firmographic features the accounts (and contacts) tables support, and their blocks."""
    cols = ctx.cols("accounts")
    acc = account_id_column(cols, "accounts")
    created = find_column(cols, *_CREATED)
    features: list[Feature] = []
    used: set[str] = {created} if created else set()

    def add(name: str, description: str, definition: str, **kw: object) -> None:
        kw.setdefault("source", "accounts")
        features.append(Feature(name, "firmographic", description, definition=definition, **kw))

    industry = find_column(cols, "industry", "sector", "branche", "naics", "sic", "vertical")
    if industry is not None:
        used.add(industry)
        add(
            "industry",
            "Industry",
            f"nullif(trim(CAST({ident(industry)} AS VARCHAR)), '')",
            kind="category",
        )
    employees = _band(
        cols,
        ctx,
        ("employee_band", "employees_band", "size_band", "company_size"),
        ("employees", "employee_count", "n_employees", "headcount", "staff"),
        EMPLOYEE_EDGES,
        EMPLOYEE_BANDS,
        used,
    )
    if employees is not None:
        add("employee_band", "Employees (band)", employees[0], kind="ordinal", levels=employees[1])
    revenue = _band(
        cols,
        ctx,
        ("revenue_band", "turnover_band"),
        ("annual_revenue", "revenue", "turnover", "yearly_revenue", "sales"),
        REVENUE_EDGES,
        REVENUE_BANDS,
        used,
    )
    if revenue is not None:
        add("revenue_band", "Yearly revenue (band)", revenue[0], kind="ordinal", levels=revenue[1])
    country = find_column(cols, "country", "country_code", "hq_country")
    if country is not None:
        used.add(country)
        add(
            "account_country",
            "Country of the account",
            f"nullif(trim(CAST({ident(country)} AS VARCHAR)), '')",
            kind="category",
        )
    if created is not None:
        add(
            "account_tenure_days",
            "Days since the account was created",
            f"date_diff('day', CAST({ident(created)} AS DATE), $snapshot)",
            transform="signed_log",
        )
    where = f" WHERE {ident(created)} < $snapshot" if created else ""
    blocks = [
        Block(
            "fm_account_features",
            "accounts",
            (
                (
                    "fm_accounts",
                    f"SELECT {_select(acc, used)} FROM $accounts{where}",
                ),
            ),
            "fm_accounts",
            False,
            tuple(f.name for f in features),
        )
    ]
    if "contacts" in ctx.tables:
        contact_features, block = _contacts(ctx)
        features += contact_features
        blocks.append(block)
    if not features:
        raise InputError(
            "The firmographic basis found nothing to use in the accounts table "
            f"(columns: {', '.join(cols)}).",
            hint="Add industry, employees, annual_revenue or created_date to the accounts.",
        )
    return features, blocks


def _contacts(ctx: PlanContext) -> tuple[list[Feature], Block]:
    cols = ctx.cols("contacts")
    acc = account_id_column({c: t for c, t in cols.items() if c != "id"}, "contacts")
    role = find_column(cols, "role", "decision_role", "buying_role", "contact_role", "persona")
    created = find_column(cols, *_CREATED)
    where = f" WHERE {ident(created)} < $snapshot" if created else ""
    relation = f"SELECT {_select(acc, {role} if role else set())} FROM $contacts{where}"

    def feature(name: str, description: str, definition: str) -> Feature:
        return Feature(
            name,
            "firmographic",
            description,
            "signed_log",
            "contacts",
            definition,
            default=0.0,
        )

    features = [feature("contacts", "Contacts at the account", "count(*)")]
    if role is not None:
        features.append(
            feature(
                "decision_roles",
                "Distinct decision roles among the account's contacts",
                f"count(DISTINCT {ident(role)})",
            )
        )
        known = (
            ctx.before_snapshot("contacts", created)
            if created
            else (f"SELECT * FROM {ident(ctx.tables['contacts'])}")
        )
        levels = top_levels(ctx.con, known, role)
        ctx.levels["contacts.role"] = levels
        for level in levels:
            cond = level_condition(role, level, levels)
            features.append(
                feature(
                    f"contacts_{slug(level)}",
                    f"Contacts in the role '{level}'",
                    f"count(*) FILTER (WHERE {cond})",
                )
            )
    block = Block(
        "fm_contact_features",
        "contacts",
        (("fm_contacts", relation),),
        "fm_contacts",
        True,
        tuple(f.name for f in features),
    )
    return features, block
