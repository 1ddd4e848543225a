"""Demographic features from the customer table: who the customers are.

Age (from ``age``, or from a birth date as of the snapshot), age band and life stage, gender,
income band (from an income band column, or banded from a numeric income), household size,
education and marital status, each where the customer table has it. Customers who signed up on
or after the snapshot date (when a ``signup_date`` column exists) are not in the relation.
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
    level_order,
)

AGE_EDGES = [18, 25, 35, 45, 55, 65]
AGE_BANDS = ["<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
INCOME_EDGES = [25_000, 50_000, 75_000, 100_000, 150_000]
INCOME_BANDS = ["<25k", "25-50k", "50-75k", "75-100k", "100-150k", "150k+"]
RELATION = "dm_customers"

# life stage from age and (when known) household size; documented in the feature description
_LIFE_STAGE_HH = (
    "CASE WHEN {age} IS NULL THEN NULL "
    "WHEN {age} < 35 AND {hh} >= 3 THEN 'young_family' "
    "WHEN {age} < 35 THEN 'young_independent' "
    "WHEN {age} < 55 AND {hh} >= 3 THEN 'established_family' "
    "WHEN {age} < 55 THEN 'midlife_independent' "
    "WHEN {age} < 65 AND {hh} >= 3 THEN 'mature_family' "
    "WHEN {age} < 65 THEN 'empty_nester' "
    "ELSE 'retired' END"
)
_LIFE_STAGE_AGE = (
    "CASE WHEN {age} IS NULL THEN NULL WHEN {age} < 35 THEN 'young_adult' "
    "WHEN {age} < 55 THEN 'midlife' WHEN {age} < 65 THEN 'pre_retirement' ELSE 'retired' END"
)


def customer_relation(cols: dict[str, str], name: str) -> tuple[str, str]:
    """CTE of the customers known at the snapshot (signed up before it, when the date is known)."""
    signup = find_column(cols, "signup_date", "created_at", "registration_date", "join_date")
    where = ""
    if signup is not None and cols[signup].startswith(("DATE", "TIMESTAMP")):
        where = f" WHERE {ident(signup)} IS NULL OR {ident(signup)} < $snapshot"
    return (name, f"SELECT * FROM $customers{where}")


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Demographic features the customer table supports, and their block."""
    cols = ctx.cols("customers")
    features: list[Feature] = []

    def add(name: str, description: str, definition: str, **kw: object) -> None:
        features.append(
            Feature(
                name, "demographic", description, source="customers", definition=definition, **kw
            )
        )

    age_col = find_column(cols, "age")
    birth = find_column(cols, "birth_date", "date_of_birth", "dob", "birthdate")
    age = None
    if age_col is not None and is_numeric(cols[age_col]):
        age = f"CAST({ident(age_col)} AS DOUBLE)"
    elif birth is not None:
        age = f"floor(date_diff('day', CAST({ident(birth)} AS DATE), $snapshot) / 365.25)"
    hh_col = find_column(cols, "household_size", "hh_size", "household", "persons_in_household")
    hh = f"CAST({ident(hh_col)} AS DOUBLE)" if hh_col is not None else None
    if age is not None:
        add("age", "Age in years", age)
        add(
            "age_band",
            "Age band",
            band_case(age, AGE_EDGES, AGE_BANDS),
            kind="ordinal",
            levels=tuple(AGE_BANDS),
        )
        stage = (_LIFE_STAGE_HH if hh else _LIFE_STAGE_AGE).format(age=age, hh=hh)
        add(
            "life_stage",
            "Life stage from age"
            + (" and household size (3+ persons = family)" if hh else " bands")
            + ": under 35, 35-54, 55-64, 65+",
            stage,
            kind="category",
        )
    gender = find_column(cols, "gender", "sex")
    if gender is not None:
        g = f"lower(trim(CAST({ident(gender)} AS VARCHAR)))"
        add(
            "gender",
            "Gender",
            f"CASE WHEN {g} IN ('f', 'w', 'woman', 'female') THEN 'female' "
            f"WHEN {g} IN ('m', 'man', 'male') THEN 'male' ELSE nullif({g}, '') END",
            kind="category",
        )
    income_band = find_column(cols, "income_band", "income_bracket", "income_group")
    income = find_column(cols, "income", "annual_income", "household_income")
    if income_band is not None:
        raw = ctx.con.execute(
            f"SELECT DISTINCT CAST({ident(income_band)} AS VARCHAR) "
            f"FROM {ident(ctx.tables['customers'])} WHERE {ident(income_band)} IS NOT NULL"
        ).fetchall()
        add(
            "income_band",
            "Income band",
            f"nullif(trim(CAST({ident(income_band)} AS VARCHAR)), '')",
            kind="ordinal",
            levels=level_order(str(r[0]).strip() for r in raw),
        )
    elif income is not None and is_numeric(cols[income]):
        add(
            "income_band",
            "Income band (yearly income)",
            band_case(f"CAST({ident(income)} AS DOUBLE)", INCOME_EDGES, INCOME_BANDS),
            kind="ordinal",
            levels=tuple(INCOME_BANDS),
        )
    if hh is not None:
        add("household_size", "Persons in the household", hh)
    for aliases, name, description in (
        (("education", "education_level", "highest_education"), "education", "Education"),
        (("marital_status", "marital", "family_status"), "marital_status", "Marital status"),
    ):
        col = find_column(cols, *aliases)
        if col is not None:
            add(
                name,
                description,
                f"nullif(lower(trim(CAST({ident(col)} AS VARCHAR))), '')",
                kind="category",
            )
    if not features:
        raise InputError(
            "The demographic basis found no demographic column in the customer table "
            f"(columns: {', '.join(cols)}).",
            hint="Add age, gender, income_band, household_size or education, "
            "or remove demographic from bases.",
        )
    block = Block(
        "dm_features",
        "customers",
        (customer_relation(cols, RELATION),),
        RELATION,
        False,
        tuple(f.name for f in features),
    )
    return features, [block]
