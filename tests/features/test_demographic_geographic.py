"""Demographic and geographic features: bands, life stage, hemisphere and season by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint.exceptions import InputError
from segmint.features import build_feature_table
from segmint.features._catalogue import level_order
from segmint.features._geographic import HEMISPHERE

from .conftest import duck

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D", "E"],
        "age": [24.0, 25.0, 54.0, 70.0, None],
        "gender": ["F", "male", "Female", "x", None],
        "income": [24_999.0, 25_000.0, 160_000.0, None, 80_000.0],
        "household_size": [1.0, 4.0, 2.0, 2.0, 3.0],
        "education": ["Master", "bachelor", None, "secondary", "bachelor"],
        "country": ["United Kingdom", "Australia", "NZ", "Narnia", "de"],
        "region": ["England", "Victoria", "Auckland", None, "Bavaria"],
        "city": ["London", "Melbourne", "Auckland", None, "Munich"],
        "area_type": ["Urban", "suburban", "urban", "rural", None],
        "signup_date": pd.to_datetime(
            ["2020-01-01", "2023-05-01", "2024-02-01", "2021-01-01", "2024-06-01"]
        ).date,
    }
)


def _v(series: pd.Series) -> list:
    """Values as a list, missing as None."""
    return series.astype(object).where(series.notna(), None).tolist()


def _table(snapshot: str, bases=("demographic", "geographic")) -> pd.DataFrame:
    con = duck(customers=CUSTOMERS)
    frame, spec = build_feature_table(
        con, bases=list(bases), snapshot=snapshot, tables_available=["customers"]
    )
    return frame.set_index("customer_id"), spec


def test_demographic_bands_and_life_stage_by_hand() -> None:
    frame, spec = _table("2024-07-01", bases=("demographic",))
    assert list(frame.index) == ["A", "B", "C", "D", "E"]
    assert _v(frame["age_band"]) == ["18-24", "25-34", "45-54", "65+", None]
    assert frame["age_band"].cat.ordered
    assert list(frame["age_band"].cat.categories)[:3] == ["<18", "18-24", "25-34"]
    assert _v(frame["life_stage"]) == [
        "young_independent",
        "young_family",
        "midlife_independent",
        "retired",
        None,
    ]
    assert _v(frame["gender"]) == ["female", "male", "female", "x", None]
    # bands are [lower, upper): 24,999 is below 25k, 25,000 is in 25-50k
    assert _v(frame["income_band"]) == [
        "<25k",
        "25-50k",
        "150k+",
        None,
        "75-100k",
    ]
    assert frame["household_size"].tolist() == [1.0, 4.0, 2.0, 2.0, 3.0]
    assert _v(frame["education"]) == [
        "master",
        "bachelor",
        None,
        "secondary",
        "bachelor",
    ]
    kinds = {f.name: f.kind for f in spec.features}
    assert kinds["age_band"] == kinds["income_band"] == "ordinal"
    assert kinds["gender"] == kinds["life_stage"] == "category"
    assert {f.basis for f in spec.features} == {"demographic"}


def test_customers_signed_up_after_the_snapshot_are_not_there_yet() -> None:
    frame, _ = _table("2024-03-01")
    assert list(frame.index) == ["A", "B", "C", "D"]  # E signed up on 2024-06-01


def test_hemisphere_and_season_at_two_dates() -> None:
    winter, _ = _table("2024-01-15", bases=("geographic",))
    # C (signed up 2024-02-01) and E (2024-06-01) are not customers yet on 2024-01-15
    assert list(winter.index) == ["A", "B", "D"]
    assert _v(winter["hemisphere"]) == ["north", "south", None]
    assert _v(winter["season"]) == ["winter", "summer", None]
    summer, spec = _table("2024-07-01", bases=("geographic",))
    assert _v(summer["hemisphere"]) == ["north", "south", "south", None, "north"]
    assert _v(summer["season"]) == ["summer", "winter", "winter", None, "summer"]
    assert _v(summer["urbanity"]) == [
        "urban",
        "suburban",
        "urban",
        "rural",
        None,
    ]
    assert summer.loc["B", "country"] == "Australia" and summer.loc["E", "city"] == "Munich"
    spring, _ = _table("2024-04-30", bases=("geographic",))
    assert _v(spring["season"])[:3] == ["spring", "autumn", "autumn"]
    autumn, _ = _table("2024-09-01", bases=("geographic",))
    assert _v(autumn["season"])[:3] == ["autumn", "spring", "spring"]
    assert {f.name for f in spec.features} == {
        "country",
        "region",
        "city",
        "urbanity",
        "hemisphere",
        "season",
    }


def test_country_table_covers_the_demo_and_common_countries() -> None:
    from segmint.datasets._retail import _GEOGRAPHY

    for country, *_ in _GEOGRAPHY:
        assert country.lower() in HEMISPHERE
    for key, hemi in {
        "australia": "south",
        "aus": "south",
        "nz": "south",
        "brazil": "south",
        "south africa": "south",
        "united states of america": "north",
        "usa": "north",
        "gb": "north",
        "japan": "north",
        "india": "north",
    }.items():
        assert HEMISPHERE[key] == hemi, key


def test_level_order_sorts_band_labels_by_their_numbers() -> None:
    labels = ["100k+", "20-35k", "<20k", "50-75k", "35-50k", "75-100k"]
    assert level_order(labels) == ("<20k", "20-35k", "35-50k", "50-75k", "75-100k", "100k+")
    assert level_order(["1-10M", "<1M", "250M+", "10-50M"]) == ("<1M", "1-10M", "10-50M", "250M+")


def test_basis_without_usable_columns_is_an_input_error() -> None:
    con = duck(customers=pd.DataFrame({"customer_id": ["A"], "favourite_colour": ["red"]}))
    with pytest.raises(InputError, match="demographic"):
        build_feature_table(
            con, bases=["demographic"], snapshot="2024-01-01", tables_available=["customers"]
        )
    with pytest.raises(InputError, match="geographic"):
        build_feature_table(
            con, bases=["geographic"], snapshot="2024-01-01", tables_available=["customers"]
        )


def test_demo_customers_through_the_loader(retail_con, retail) -> None:
    frame, spec = build_feature_table(
        retail_con,
        bases=["demographic", "geographic", "behavioural"],
        snapshot="2024-07-01",
        tables_available=["customers", "transactions"],
    )
    names = set(spec.names)
    assert {
        "age",
        "age_band",
        "life_stage",
        "gender",
        "income_band",
        "household_size",
        "education",
        "marital_status",
        "country",
        "region",
        "city",
        "urbanity",
        "hemisphere",
        "season",
    } <= names
    assert list(frame["income_band"].cat.categories) == [
        "<20k",
        "20-35k",
        "35-50k",
        "50-75k",
        "75-100k",
        "100k+",
    ]
    # July: summer in Europe, winter in Australia and New Zealand
    by_country = frame.groupby("country", observed=True)["season"].agg(lambda s: set(s))
    assert by_country["Australia"] == {"winter"} and by_country["New Zealand"] == {"winter"}
    assert by_country["United Kingdom"] == {"summer"} and by_country["Germany"] == {"summer"}
    assert frame["hemisphere"].notna().all()
    merged = frame.merge(retail.truth, on="customer_id")
    ages = merged.groupby("segment")["age"].mean()
    # the new explorers join in the last 120 days of 2024: not customers yet in July
    assert "new_explorers" not in ages.index
    assert ages.idxmin() == "engaged_app_loyalists"
    assert ages.idxmax() == "occasional_store_shoppers"
