"""Geographic features from the customer table: where the customers are, and their season.

Country, region and city as categories; urban/rural from an area-type column where the table has
one; the hemisphere from a country table (names and ISO 3166 alpha-2/alpha-3 codes) and the
season at the snapshot date by month and hemisphere (meteorological seasons: December-February
is winter in the north and summer in the south), so that a retailer selling in Europe and
Australia times its offers by the customer's season.
"""

from __future__ import annotations

from segmint.exceptions import InputError
from segmint.features._catalogue import Block, Feature, PlanContext, find_column, ident, literal
from segmint.features._demographic import customer_relation

# country -> hemisphere, by English name and ISO 3166 alpha-2 / alpha-3 code (lower case);
# countries on the equator take the hemisphere where most of their people live
_SOUTH = """
australia au aus|new zealand nz nzl|south africa za zaf|argentina ar arg|chile cl chl|
brazil br bra|uruguay uy ury|paraguay py pry|peru pe per|bolivia bo bol|indonesia id idn|
namibia na nam|botswana bw bwa|zimbabwe zw zwe|zambia zm zmb|mozambique mz moz|
madagascar mg mdg|mauritius mu mus|tanzania tz tza|angola ao ago|fiji fj fji|
papua new guinea pg png
"""
_NORTH = """
united kingdom gb gbr|uk|great britain|england|scotland|wales|northern ireland|ireland ie irl|
germany de deu|deutschland|austria at aut|switzerland ch che|france fr fra|spain es esp|
portugal pt prt|italy it ita|netherlands nl nld|belgium be bel|luxembourg lu lux|
denmark dk dnk|sweden se swe|norway no nor|finland fi fin|iceland is isl|poland pl pol|
czechia cz cze|czech republic|slovakia sk svk|hungary hu hun|romania ro rou|bulgaria bg bgr|
greece gr grc|croatia hr hrv|slovenia si svn|serbia rs srb|estonia ee est|latvia lv lva|
lithuania lt ltu|ukraine ua ukr|turkey tr tur|turkiye|russia ru rus|
united states us usa|united states of america|canada ca can|mexico mx mex|china cn chn|
japan jp jpn|south korea kr kor|korea|india in ind|israel il isr|
united arab emirates ae are|saudi arabia sa sau|egypt eg egy|morocco ma mar|nigeria ng nga|
kenya ke ken|singapore sg sgp|malaysia my mys|thailand th tha|vietnam vn vnm|
philippines ph phl|hong kong hk hkg|taiwan tw twn|pakistan pk pak|bangladesh bd bgd|
colombia co col|venezuela ve ven|ecuador ec ecu|cyprus cy cyp|malta mt mlt|qatar qa qat
"""


def _keys(text: str) -> list[str]:
    """``'new zealand nz nzl'`` -> ``['new zealand', 'nz', 'nzl']``: the name, then the codes."""
    keys = []
    for entry in text.replace("\n", "").split("|"):
        words = entry.split()
        n_codes = 0
        while n_codes < 2 and len(words) - n_codes > 1 and len(words[-1 - n_codes]) in (2, 3):
            n_codes += 1
        keys += [" ".join(words[: len(words) - n_codes]), *words[len(words) - n_codes :]]
    return keys


HEMISPHERE: dict[str, str] = {
    **{k: "north" for k in _keys(_NORTH)},
    **{k: "south" for k in _keys(_SOUTH)},
}
# month -> season in the northern hemisphere; the southern one is shifted by half a year
NORTH_SEASON = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}
OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
RELATION = "geo_customers"


def hemisphere_values() -> str:
    """The country table as a SQL ``VALUES`` list: ``(country_key, hemisphere)``."""
    rows = ", ".join(f"({literal(k)}, {literal(v)})" for k, v in sorted(HEMISPHERE.items()))
    return f"(VALUES {rows}) AS h(country_key, hemisphere)"


def _season_sql() -> str:
    month = "month($snapshot)"
    parts = []
    for hemi, shift in (("north", False), ("south", True)):
        for season in ("winter", "spring", "summer", "autumn"):
            months = [m for m, s in NORTH_SEASON.items() if (OPPOSITE[s] if shift else s) == season]
            listed = ", ".join(str(m) for m in sorted(months))
            parts.append(f"WHEN hemisphere = '{hemi}' AND {month} IN ({listed}) THEN '{season}'")
    return "CASE " + " ".join(parts) + " END"


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Geographic features the customer table supports, and their block."""
    cols = ctx.cols("customers")
    features: list[Feature] = []

    def add(name: str, description: str, definition: str) -> None:
        features.append(
            Feature(
                name,
                "geographic",
                description,
                source="customers",
                definition=definition,
                kind="category",
            )
        )

    country = find_column(cols, "country", "country_code", "land", "nation")
    for aliases, name in (
        ((country,) if country else (), "country"),
        (("region", "state", "province", "county", "bundesland"), "region"),
        (("city", "town", "ort", "stadt"), "city"),
    ):
        col = find_column(cols, *aliases) if aliases else None
        if col is not None:
            add(name, name.capitalize(), f"nullif(trim(CAST({ident(col)} AS VARCHAR)), '')")
    area = find_column(cols, "area_type", "urbanity", "urban_rural", "settlement_type")
    urban = find_column(cols, "urban", "is_urban")
    if area is not None:
        add(
            "urbanity",
            "Urban, suburban or rural",
            f"nullif(lower(trim(CAST({ident(area)} AS VARCHAR))), '')",
        )
    elif urban is not None:
        add(
            "urbanity",
            "Urban or rural",
            f"CASE WHEN CAST({ident(urban)} AS BOOLEAN) THEN 'urban' "
            f"WHEN NOT CAST({ident(urban)} AS BOOLEAN) THEN 'rural' END",
        )
    ctes = [customer_relation(cols, "geo_customers0")]
    if country is not None:
        add("hemisphere", "Hemisphere of the customer's country", "hemisphere")
        add(
            "season",
            "Season at the snapshot date in the customer's hemisphere "
            "(Dec-Feb winter in the north, summer in the south)",
            _season_sql(),
        )
        ctes.append(
            (
                RELATION,
                "SELECT c.*, h.hemisphere FROM geo_customers0 AS c "
                f"LEFT JOIN {hemisphere_values()} "
                f"ON lower(trim(CAST(c.{ident(country)} AS VARCHAR))) = h.country_key",
            )
        )
    else:
        ctes.append((RELATION, "SELECT * FROM geo_customers0"))
    if not features:
        raise InputError(
            "The geographic basis found no country, region or city in the customer table "
            f"(columns: {', '.join(cols)}).",
            hint="Add a country column, or remove geographic from bases.",
        )
    block = Block(
        "geo_features", "customers", tuple(ctes), RELATION, False, tuple(f.name for f in features)
    )
    return features, [block]
