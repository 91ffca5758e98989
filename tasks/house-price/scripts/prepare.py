"""Data preparation for the house-price task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds Kaggle's train.csv
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

Only Kaggle's labelled train.csv is used (its test.csv has no prices). RAW/train.csv is read
as delivered; when the competition zip was left unpacked, train.csv is read from inside it.
The published split is kept: the first 80% of the rows in file order become
DIR/public/train.csv, the last 20% DIR/public/test.csv without the SalePrice column, and
their prices DIR/private/answer.csv (Id, SalePrice). Values are copied as text, unchanged
("NA" stays "NA").

--generated draws 400 houses with the same 81 columns, the real category codes and the
real patterns of missing values (no basement: every basement column NA; no garage: every
garage column NA; ...). SalePrice is a noisy function of quality, size, age, location and
a few more columns, so that a model has something to learn. The output is byte-identical
on every run (one numpy Generator with a fixed seed, fixed column order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import (
    PrepareError,
    prepare_main,
    read_delivered_csv,
    write_csv,
)

TRAIN_FRACTION_NUMERATOR, TRAIN_FRACTION_DENOMINATOR = 4, 5  # 80% train, in file order
GENERATED_ROWS = 400
GENERATED_SEED = 20_240_601
NA = "NA"

# The columns of Kaggle's train.csv, in file order.
COLUMNS: tuple[str, ...] = (
    "Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley", "LotShape",
    "LandContour", "Utilities", "LotConfig", "LandSlope", "Neighborhood", "Condition1",
    "Condition2", "BldgType", "HouseStyle", "OverallQual", "OverallCond", "YearBuilt",
    "YearRemodAdd", "RoofStyle", "RoofMatl", "Exterior1st", "Exterior2nd", "MasVnrType",
    "MasVnrArea", "ExterQual", "ExterCond", "Foundation", "BsmtQual", "BsmtCond",
    "BsmtExposure", "BsmtFinType1", "BsmtFinSF1", "BsmtFinType2", "BsmtFinSF2", "BsmtUnfSF",
    "TotalBsmtSF", "Heating", "HeatingQC", "CentralAir", "Electrical", "1stFlrSF", "2ndFlrSF",
    "LowQualFinSF", "GrLivArea", "BsmtFullBath", "BsmtHalfBath", "FullBath", "HalfBath",
    "BedroomAbvGr", "KitchenAbvGr", "KitchenQual", "TotRmsAbvGrd", "Functional", "Fireplaces",
    "FireplaceQu", "GarageType", "GarageYrBlt", "GarageFinish", "GarageCars", "GarageArea",
    "GarageQual", "GarageCond", "PavedDrive", "WoodDeckSF", "OpenPorchSF", "EnclosedPorch",
    "3SsnPorch", "ScreenPorch", "PoolArea", "PoolQC", "Fence", "MiscFeature", "MiscVal",
    "MoSold", "YrSold", "SaleType", "SaleCondition", "SalePrice",
)  # fmt: skip


# --- the split (shared by --raw and --generated) -----------------------------------------


def check_table(header: list[str], rows: list[list[str]]) -> None:
    """Raise PrepareError unless the table has unique Ids and positive prices."""
    for column in ("Id", "SalePrice"):
        if column not in header:
            raise PrepareError(f"train.csv has no {column} column")
    id_index, price_index = header.index("Id"), header.index("SalePrice")
    if len(rows) < 2:
        raise PrepareError(f"train.csv has {len(rows)} data rows; at least 2 are needed")
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise PrepareError(f"train.csv line {line} has {len(row)} fields, not {len(header)}")
        if row[id_index] in seen:
            raise PrepareError(f"train.csv line {line} repeats Id {row[id_index]}")
        seen.add(row[id_index])
        try:
            price = float(row[price_index])
        except ValueError:
            price = math.nan
        if not (math.isfinite(price) and price > 0):
            raise PrepareError(f"train.csv line {line} has SalePrice {row[price_index]!r}")


def split(header: list[str], rows: list[list[str]], out: Path) -> None:
    """Write public/train.csv, public/test.csv and private/answer.csv under `out`."""
    check_table(header, rows)
    price_index = header.index("SalePrice")
    id_index = header.index("Id")
    n_train = len(rows) * TRAIN_FRACTION_NUMERATOR // TRAIN_FRACTION_DENOMINATOR
    train_rows, test_rows = rows[:n_train], rows[n_train:]

    def without_price(fields: Sequence[str]) -> list[str]:
        return [value for index, value in enumerate(fields) if index != price_index]

    write_csv(out / "public" / "train.csv", header, train_rows)
    write_csv(out / "public" / "test.csv", without_price(header), map(without_price, test_rows))
    answers = [[row[id_index], row[price_index]] for row in test_rows]
    write_csv(out / "private" / "answer.csv", ["Id", "SalePrice"], answers)


# --- --generated ---------------------------------------------------------------------------

# Dwelling types: MSSubClass, HouseStyle, BldgType, how common, size of the upper floor
# relative to the ground floor.
DWELLINGS: tuple[tuple[int, str, str, int, float], ...] = (
    (20, "1Story", "1Fam", 536, 0.0),
    (60, "2Story", "1Fam", 299, 0.85),
    (50, "1.5Fin", "1Fam", 144, 0.5),
    (120, "1Story", "TwnhsE", 87, 0.0),
    (30, "1Story", "1Fam", 69, 0.0),
    (160, "2Story", "Twnhs", 63, 0.9),
    (70, "2Story", "1Fam", 60, 0.8),
    (80, "SLvl", "1Fam", 58, 0.0),
    (90, "SFoyer", "Duplex", 52, 0.0),
    (190, "2Story", "2fmCon", 30, 0.7),
    (85, "SFoyer", "1Fam", 20, 0.0),
    (75, "2.5Unf", "1Fam", 16, 0.75),
    (45, "1.5Unf", "1Fam", 12, 0.0),
    (180, "SLvl", "TwnhsE", 10, 0.0),
    (40, "1Story", "1Fam", 4, 0.0),
)

# Neighbourhoods: code, how common, effect on the log price.
NEIGHBORHOODS: tuple[tuple[str, int, float], ...] = (
    ("NAmes", 225, 0.0), ("CollgCr", 150, 0.08), ("OldTown", 113, -0.15),
    ("Edwards", 100, -0.14), ("Somerst", 86, 0.12), ("Gilbert", 79, 0.04),
    ("NridgHt", 77, 0.25), ("Sawyer", 74, -0.05), ("NWAmes", 73, 0.03),
    ("SawyerW", 59, 0.04), ("BrkSide", 58, -0.12), ("Crawfor", 51, 0.1),
    ("Mitchel", 49, 0.0), ("NoRidge", 41, 0.26), ("Timber", 38, 0.14),
    ("IDOTRR", 37, -0.25), ("ClearCr", 28, 0.1), ("StoneBr", 25, 0.27),
    ("SWISU", 25, -0.08), ("MeadowV", 17, -0.3), ("Blmngtn", 17, 0.08),
    ("BrDale", 16, -0.22), ("Veenker", 11, 0.14), ("NPkVill", 9, -0.05),
    ("Blueste", 2, -0.06),
)  # fmt: skip

EXTERIORS_1ST = (
    ("VinylSd", 515), ("HdBoard", 222), ("MetalSd", 220), ("Wd Sdng", 206), ("Plywood", 108),
    ("CemntBd", 61), ("BrkFace", 50), ("WdShing", 26), ("Stucco", 25), ("AsbShng", 20),
    ("BrkComm", 2), ("Stone", 2), ("AsphShn", 1), ("ImStucc", 1), ("CBlock", 1),
)  # fmt: skip
EXTERIORS_2ND = (
    ("VinylSd", 504), ("MetalSd", 214), ("HdBoard", 207), ("Wd Sdng", 197), ("Plywood", 142),
    ("CmentBd", 60), ("Wd Shng", 38), ("Stucco", 26), ("BrkFace", 25), ("AsbShng", 20),
    ("ImStucc", 10), ("Brk Cmn", 7), ("Stone", 5), ("AsphShn", 3), ("Other", 1), ("CBlock", 1),
)  # fmt: skip
# Exterior2nd spells three materials differently from Exterior1st, as the real file does.
EXTERIOR_2ND_SPELLING = {"CemntBd": "CmentBd", "WdShing": "Wd Shng", "BrkComm": "Brk Cmn"}

Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class Latent:
    """Per-house draws that several columns (and the price) depend on."""

    quality: np.ndarray  # OverallQual, as floats
    hood_effect: np.ndarray  # the neighbourhood's effect on the log price
    upper_floor: np.ndarray  # 2ndFlrSF as a fraction of 1stFlrSF

    @property
    def n(self) -> int:
        """The number of houses."""
        return len(self.quality)


def pick(rng: np.random.Generator, table: Sequence[tuple[str, int]], n: int) -> np.ndarray:
    """`n` codes drawn from (code, weight) pairs, with probabilities proportional to weight."""
    codes = np.array([code for code, _ in table], dtype=object)
    return rng.choice(codes, size=n, p=normalised([weight for _, weight in table]))


def normalised(weights: Sequence[float]) -> np.ndarray:
    """Weights scaled to sum to 1."""
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


def grade(score: np.ndarray, lowest: str = "Po") -> np.ndarray:
    """Map a numeric quality score (about 1-10) to the codes Ex, Gd, TA, Fa and `lowest`."""
    bands = [score >= 8.5, score >= 6.5, score >= 4.0, score >= 2.5]
    return np.select(bands, ["Ex", "Gd", "TA", "Fa"], lowest).astype(object)


def with_na(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Integer values as Python ints, "NA" where `missing`."""
    return np.where(missing, NA, values.astype(object))


def years_between(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """A year drawn uniformly from first..last (inclusive), per house."""
    return (first + np.floor(rng.random(len(first)) * (last - first + 1))).astype(int)


def draw_dwelling(rng: np.random.Generator, col: Columns, n: int) -> Latent:
    """Type of dwelling, zoning, neighbourhood and overall quality and condition."""
    dwelling = rng.choice(len(DWELLINGS), size=n, p=normalised([d[3] for d in DWELLINGS]))
    col["MSSubClass"] = np.array([DWELLINGS[i][0] for i in dwelling])
    col["HouseStyle"] = np.array([DWELLINGS[i][1] for i in dwelling], dtype=object)
    col["BldgType"] = np.array([DWELLINGS[i][2] for i in dwelling], dtype=object)
    hood = rng.choice(len(NEIGHBORHOODS), size=n, p=normalised([h[1] for h in NEIGHBORHOODS]))
    col["Neighborhood"] = np.array([NEIGHBORHOODS[i][0] for i in hood], dtype=object)
    hood_effect = np.array([NEIGHBORHOODS[i][2] for i in hood])
    zoning = pick(rng, (("RL", 1151), ("RM", 218), ("FV", 65), ("RH", 16), ("C (all)", 10)), n)
    col["MSZoning"] = np.where(col["Neighborhood"] == "Somerst", "FV", zoning)

    quality_counts = (2, 3, 20, 116, 397, 374, 319, 168, 43, 18)
    quality = rng.choice(np.arange(1, 11), size=n, p=normalised(quality_counts)).astype(float)
    quality = np.clip(quality + np.round(hood_effect * 4 + rng.normal(0, 0.3, n)), 1, 10)
    col["OverallQual"] = quality.astype(int)
    condition_counts = (1, 5, 25, 57, 821, 252, 205, 72, 22)
    col["OverallCond"] = rng.choice(np.arange(1, 10), size=n, p=normalised(condition_counts))
    upper_floor = np.array([DWELLINGS[i][4] for i in dwelling])
    return Latent(quality=quality, hood_effect=hood_effect, upper_floor=upper_floor)


def draw_years(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Sale date, construction and remodelling years (no remodelling: the construction year,
    but never before 1950, as in the real data)."""
    n = latent.n
    col["YrSold"] = rng.choice(
        np.arange(2006, 2011), size=n, p=normalised((314, 329, 304, 338, 175))
    )
    month_counts = (58, 52, 106, 141, 204, 253, 234, 122, 63, 89, 79, 59)
    col["MoSold"] = rng.choice(np.arange(1, 13), size=n, p=normalised(month_counts))
    built = np.round(1972 + 9 * (latent.quality - 6) + rng.normal(0, 20, n))
    col["YearBuilt"] = np.clip(built, 1872, col["YrSold"]).astype(int)
    earliest_remodel = np.maximum(col["YearBuilt"], 1950)
    remodelled = rng.random(n) < 0.45
    remodel_year = years_between(rng, earliest_remodel, col["YrSold"])
    col["YearRemodAdd"] = np.where(remodelled, remodel_year, earliest_remodel)


def draw_lot(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Lot size, frontage (missing for about 18% of houses), access and location."""
    n = latent.n
    lot_area = np.exp(rng.normal(np.log(9500), 0.45, n))
    townhouse = np.isin(col["BldgType"], ("Twnhs", "TwnhsE"))
    lot_area = np.where(townhouse, lot_area * 0.35, lot_area)
    col["LotArea"] = np.clip(np.round(lot_area), 1300, 215245).astype(int)
    frontage = np.clip(np.round(col["LotArea"] / rng.uniform(105, 160, n)), 21, 313).astype(int)
    col["LotFrontage"] = with_na(frontage, rng.random(n) < 0.177)
    col["Street"] = pick(rng, (("Pave", 1454), ("Grvl", 6)), n)
    col["Alley"] = pick(rng, ((NA, 1369), ("Grvl", 50), ("Pave", 41)), n)
    col["LotShape"] = pick(rng, (("Reg", 925), ("IR1", 484), ("IR2", 41), ("IR3", 10)), n)
    col["LandContour"] = pick(rng, (("Lvl", 1311), ("Bnk", 63), ("HLS", 50), ("Low", 36)), n)
    col["Utilities"] = pick(rng, (("AllPub", 1459), ("NoSeWa", 1)), n)
    col["LotConfig"] = pick(
        rng, (("Inside", 1052), ("Corner", 263), ("CulDSac", 94), ("FR2", 47), ("FR3", 4)), n
    )
    col["LandSlope"] = pick(rng, (("Gtl", 1382), ("Mod", 65), ("Sev", 13)), n)
    col["Condition1"] = pick(
        rng,
        (("Norm", 1260), ("Feedr", 81), ("Artery", 48), ("RRAn", 26), ("PosN", 19),
         ("RRAe", 11), ("PosA", 8), ("RRNn", 5), ("RRNe", 2)),
        n,
    )  # fmt: skip
    col["Condition2"] = pick(
        rng,
        (("Norm", 1445), ("Feedr", 6), ("Artery", 2), ("RRNn", 2), ("PosN", 2), ("PosA", 1),
         ("RRAn", 1), ("RRAe", 1)),
        n,
    )  # fmt: skip


def draw_exterior(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Roof, cladding, masonry veneer, exterior quality and foundation."""
    n, quality = latent.n, latent.quality
    col["RoofStyle"] = pick(
        rng,
        (("Gable", 1141), ("Hip", 286), ("Flat", 13), ("Gambrel", 11), ("Mansard", 7),
         ("Shed", 2)),
        n,
    )  # fmt: skip
    col["RoofMatl"] = pick(
        rng,
        (("CompShg", 1434), ("Tar&Grv", 11), ("WdShngl", 6), ("WdShake", 5), ("Metal", 1),
         ("Membran", 1), ("Roll", 1), ("ClyTile", 1)),
        n,
    )  # fmt: skip
    exterior = pick(rng, EXTERIORS_1ST, n)
    exterior = np.where((col["YearBuilt"] >= 1995) & (rng.random(n) < 0.7), "VinylSd", exterior)
    col["Exterior1st"] = exterior
    same = np.array([EXTERIOR_2ND_SPELLING.get(code, code) for code in exterior], dtype=object)
    col["Exterior2nd"] = np.where(rng.random(n) < 0.85, same, pick(rng, EXTERIORS_2ND, n))
    veneer = pick(
        rng, (("None", 864), ("BrkFace", 445), ("Stone", 128), ("BrkCmn", 15), (NA, 8)), n
    )
    veneer = np.where((quality >= 8) & (veneer == "None") & (rng.random(n) < 0.6), "Stone", veneer)
    col["MasVnrType"] = veneer
    veneer_area = np.round(rng.uniform(40, 350, n) * (1 + 0.15 * (quality - 5))).astype(int)
    col["MasVnrArea"] = np.where(veneer == "None", 0, with_na(veneer_area, veneer == NA))
    col["ExterQual"] = grade(quality + rng.normal(0, 0.7, n) + 0.3, lowest="Fa")
    col["ExterCond"] = pick(rng, (("TA", 1282), ("Gd", 146), ("Fa", 28), ("Ex", 3), ("Po", 1)), n)
    new = pick(rng, (("PConc", 85), ("CBlock", 12), ("Slab", 1), ("Wood", 1), ("Stone", 1)), n)
    middle = pick(rng, (("CBlock", 70), ("PConc", 20), ("BrkTil", 5), ("Slab", 5)), n)
    old = pick(rng, (("BrkTil", 60), ("CBlock", 20), ("PConc", 15), ("Stone", 5)), n)
    era = [col["YearBuilt"] >= 1990, col["YearBuilt"] >= 1945]
    col["Foundation"] = np.select(era, [new, middle], old)


def draw_floors(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Floor areas (GrLivArea is their sum), rooms, baths, kitchen and functionality."""
    n, quality = latent.n, latent.quality
    first = np.exp(rng.normal(np.log(1050) + 0.07 * (quality - 6), 0.25, n))
    first = np.where(latent.upper_floor > 0.6, first * 0.85, first)
    col["1stFlrSF"] = np.clip(np.round(first), 334, 4692).astype(int)
    second = col["1stFlrSF"] * latent.upper_floor * rng.uniform(0.75, 1.15, n)
    col["2ndFlrSF"] = np.round(second).astype(int)
    col["LowQualFinSF"] = np.where(rng.random(n) < 0.018, rng.integers(50, 520, n), 0)
    living = col["1stFlrSF"] + col["2ndFlrSF"] + col["LowQualFinSF"]
    col["GrLivArea"] = living
    full_baths = 1 + (living > 1350).astype(int) + (living > 2800) - (rng.random(n) < 0.01)
    col["FullBath"] = np.clip(full_baths, 0, 3)
    half_bath = (latent.upper_floor > 0) & (rng.random(n) < 0.7) | (rng.random(n) < 0.15)
    col["HalfBath"] = half_bath.astype(int)
    bedrooms = np.round(1 + living / 700 + rng.normal(0, 0.6, n))
    col["BedroomAbvGr"] = np.clip(bedrooms, 0, 8).astype(int)
    second_kitchen = (col["BldgType"] == "Duplex") | (rng.random(n) < 0.01)
    col["KitchenAbvGr"] = np.where(second_kitchen, 2, 1)
    col["KitchenQual"] = grade(quality + rng.normal(0, 0.8, n) + 0.3, lowest="Fa")
    rooms = col["BedroomAbvGr"] + 2 + np.round(living / 900 + rng.normal(0, 0.6, n))
    col["TotRmsAbvGrd"] = np.clip(rooms, 2, 14).astype(int)
    col["Functional"] = pick(
        rng,
        (("Typ", 1360), ("Min2", 34), ("Min1", 31), ("Mod", 15), ("Maj1", 14), ("Maj2", 5),
         ("Sev", 1)),
        n,
    )  # fmt: skip


def draw_basement(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Basement: about 2.5% of houses have none, and then every basement column says so.

    TotalBsmtSF is the sum of the two finished areas and the unfinished one.
    """
    n, quality = latent.n, latent.quality
    missing = rng.random(n) < 0.025
    total = np.where(missing, 0, np.round(col["1stFlrSF"] * rng.uniform(0.7, 1.05, n)))
    type_1 = pick(
        rng, (("Unf", 430), ("GLQ", 418), ("ALQ", 220), ("BLQ", 148), ("Rec", 133), ("LwQ", 74)), n
    )
    finished_1 = np.where(type_1 == "Unf", 0, np.round(total * rng.uniform(0.2, 0.9, n)))
    type_2 = pick(
        rng, (("Unf", 1256), ("Rec", 54), ("LwQ", 46), ("BLQ", 33), ("ALQ", 19), ("GLQ", 14)), n
    )
    finished_2 = np.round((total - finished_1) * rng.uniform(0.1, 0.8, n))
    finished_2 = np.where(type_2 == "Unf", 0, finished_2)
    col["BsmtQual"] = np.where(
        missing, NA, grade(quality + rng.normal(0, 0.8, n) + 0.5, lowest="Fa")
    )
    condition = pick(rng, (("TA", 1311), ("Gd", 65), ("Fa", 45), ("Po", 2)), n)
    col["BsmtCond"] = np.where(missing, NA, condition)
    exposure = pick(rng, (("No", 953), ("Av", 221), ("Gd", 134), ("Mn", 114)), n)
    col["BsmtExposure"] = np.where(missing, NA, exposure)
    col["BsmtFinType1"] = np.where(missing, NA, type_1)
    col["BsmtFinSF1"] = finished_1.astype(int)
    col["BsmtFinType2"] = np.where(missing, NA, type_2)
    col["BsmtFinSF2"] = finished_2.astype(int)
    col["BsmtUnfSF"] = (total - finished_1 - finished_2).astype(int)
    col["TotalBsmtSF"] = total.astype(int)
    full_bath = (finished_1 > 0) & (rng.random(n) < 0.6)
    col["BsmtFullBath"] = full_bath.astype(int)
    col["BsmtHalfBath"] = (~missing & (rng.random(n) < 0.055)).astype(int)


def draw_services(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Heating, air conditioning, electrical system (one value in ~300 missing), fireplaces."""
    n, quality = latent.n, latent.quality
    col["Heating"] = pick(
        rng,
        (("GasA", 1428), ("GasW", 18), ("Grav", 7), ("Wall", 4), ("OthW", 2), ("Floor", 1)),
        n,
    )
    recent = pick(rng, (("Ex", 85), ("Gd", 10), ("TA", 5)), n)
    older = pick(rng, (("TA", 45), ("Ex", 30), ("Gd", 18), ("Fa", 6), ("Po", 1)), n)
    col["HeatingQC"] = np.where(col["YearRemodAdd"] >= 1995, recent, older)
    age = col["YrSold"] - col["YearBuilt"]
    no_air = (age > 50) & (rng.random(n) < 0.25) | (rng.random(n) < 0.02)
    col["CentralAir"] = np.where(no_air, "N", "Y").astype(object)
    electrical = pick(
        rng, (("SBrkr", 1334), ("FuseA", 94), ("FuseF", 27), ("FuseP", 3), ("Mix", 1)), n
    )
    electrical = np.where(col["YearBuilt"] >= 1970, "SBrkr", electrical)
    col["Electrical"] = np.where(rng.random(n) < 0.003, NA, electrical)
    first_odds = 0.4 + 0.07 * (quality - 5)
    fireplaces = (rng.random(n) < first_odds).astype(int) + (rng.random(n) < 0.15 * (quality >= 6))
    col["Fireplaces"] = fireplaces
    fireplace_quality = grade(quality + rng.normal(0, 1.0, n) + 0.2)
    col["FireplaceQu"] = np.where(fireplaces == 0, NA, fireplace_quality)


def draw_garage(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Garage: about 5.5% of houses have none, and then every garage column says so."""
    n, quality = latent.n, latent.quality
    missing = rng.random(n) < 0.055
    garage_type = pick(
        rng,
        (("Attchd", 870), ("Detchd", 387), ("BuiltIn", 88), ("Basment", 19), ("CarPort", 9),
         ("2Types", 6)),
        n,
    )  # fmt: skip
    col["GarageType"] = np.where(missing, NA, garage_type)
    later = years_between(rng, col["YearBuilt"], col["YrSold"])
    built = np.where(rng.random(n) < 0.8, col["YearBuilt"], later)
    col["GarageYrBlt"] = with_na(built, missing)
    finish = np.select([quality >= 8, quality >= 6], ["Fin", "RFn"], "Unf").astype(object)
    other_finish = pick(rng, (("Unf", 605), ("RFn", 422), ("Fin", 352)), n)
    finish = np.where(rng.random(n) < 0.3, other_finish, finish)
    col["GarageFinish"] = np.where(missing, NA, finish)
    cars = np.clip(np.round(1 + 0.35 * (quality - 4) + rng.normal(0, 0.5, n)), 1, 4)
    col["GarageCars"] = np.where(missing, 0, cars).astype(int)
    area = np.round(cars * rng.uniform(230, 300, n) + rng.normal(0, 25, n))
    col["GarageArea"] = np.where(missing, 0, area).astype(int)
    garage_quality = pick(rng, (("TA", 1311), ("Fa", 48), ("Gd", 14), ("Ex", 3), ("Po", 3)), n)
    col["GarageQual"] = np.where(missing, NA, garage_quality)
    garage_condition = pick(rng, (("TA", 1326), ("Fa", 35), ("Gd", 9), ("Po", 7), ("Ex", 2)), n)
    col["GarageCond"] = np.where(missing, NA, garage_condition)
    col["PavedDrive"] = pick(rng, (("Y", 1340), ("N", 90), ("P", 30)), n)


def draw_outside(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Decks, porches, pool, fence and miscellaneous features (mostly absent: 0 or NA)."""
    n = latent.n
    age = col["YrSold"] - col["YearBuilt"]

    def sometimes(share: float | np.ndarray, low: int, high: int) -> np.ndarray:
        return np.where(rng.random(n) < share, rng.integers(low, high, n), 0)

    col["WoodDeckSF"] = sometimes(0.48, 40, 450)
    col["OpenPorchSF"] = sometimes(0.55, 15, 160)
    col["EnclosedPorch"] = sometimes(0.05 + 0.2 * (age > 60), 30, 300)
    col["3SsnPorch"] = sometimes(0.016, 100, 400)
    col["ScreenPorch"] = sometimes(0.08, 60, 300)
    col["PoolArea"] = sometimes(0.01, 480, 740)
    pool_quality = pick(rng, (("Gd", 3), ("Ex", 2), ("Fa", 2)), n)
    col["PoolQC"] = np.where(col["PoolArea"] > 0, pool_quality, NA)
    col["Fence"] = pick(
        rng, ((NA, 1179), ("MnPrv", 157), ("GdPrv", 59), ("GdWo", 54), ("MnWw", 11)), n
    )
    misc = pick(rng, ((NA, 1406), ("Shed", 49), ("Gar2", 2), ("Othr", 2), ("TenC", 1)), n)
    col["MiscFeature"] = misc
    col["MiscVal"] = np.where(misc == NA, 0, rng.integers(4, 26, n) * 100)


def draw_sale(rng: np.random.Generator, col: Columns, latent: Latent) -> None:
    """Sale type and condition: most new houses are sold as "New", "Partial"."""
    n = latent.n
    sale_type = pick(
        rng,
        (("WD", 1267), ("COD", 43), ("ConLD", 9), ("ConLI", 5), ("ConLw", 5), ("CWD", 4),
         ("Oth", 3), ("Con", 2)),
        n,
    )  # fmt: skip
    new_house = (col["YearBuilt"] >= col["YrSold"] - 1) & (rng.random(n) < 0.8)
    col["SaleType"] = np.where(new_house, "New", sale_type)
    condition = pick(
        rng,
        (("Normal", 1198), ("Abnorml", 101), ("Family", 20), ("Alloca", 12), ("AdjLand", 4)),
        n,
    )
    col["SaleCondition"] = np.where(new_house, "Partial", condition)


def sale_price(rng: np.random.Generator, col: Columns, latent: Latent) -> np.ndarray:
    """A noisy log-linear price: the signal a model can learn from the other columns."""
    log_price = (
        12.02
        + 0.10 * (latent.quality - 6)
        + 0.40 * np.log(col["GrLivArea"] / 1500)
        + 0.0025 * (col["YearBuilt"] - 1975)
        + 0.0012 * (col["YearRemodAdd"] - 1985)
        + 0.00011 * (col["TotalBsmtSF"] - 1050)
        + 0.035 * (col["GarageCars"] - 2)
        + 0.035 * (col["OverallCond"] - 5)
        + 0.05 * np.log(col["LotArea"] / 9500)
        + 0.03 * col["Fireplaces"]
        + 0.06 * (col["CentralAir"] == "Y")
        + 0.05 * (col["KitchenQual"] == "Ex")
        - 0.10 * (col["SaleCondition"] == "Abnorml")
        - 0.10 * (col["MSZoning"] == "C (all)")
        + latent.hood_effect
        + rng.normal(0, 0.09, latent.n)
    )
    step = np.where(rng.random(latent.n) < 0.7, 500, 100)  # prices are mostly round numbers
    return (np.round(np.exp(log_price) / step) * step).astype(int)


def generate_columns(rng: np.random.Generator, n: int) -> Columns:
    """Every column of `n` synthetic houses (numbers, or codes with "NA" where missing)."""
    col: Columns = {"Id": np.arange(1, n + 1)}
    latent = draw_dwelling(rng, col, n)
    for draw in (
        draw_years,
        draw_lot,
        draw_exterior,
        draw_floors,
        draw_basement,
        draw_services,
        draw_garage,
        draw_outside,
        draw_sale,
    ):
        draw(rng, col, latent)
    col["SalePrice"] = sale_price(rng, col, latent)
    return col


def generated_table(
    n: int = GENERATED_ROWS, seed: int = GENERATED_SEED
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the synthetic train.csv, every value as its CSV text."""
    columns = generate_columns(np.random.default_rng(seed), n)
    if set(columns) != set(COLUMNS):
        raise AssertionError(f"generator columns differ: {sorted(set(columns) ^ set(COLUMNS))}")
    text = {name: [str(value) for value in columns[name]] for name in COLUMNS}
    rows = [[text[name][index] for name in COLUMNS] for index in range(n)]
    return list(COLUMNS), rows


if __name__ == "__main__":
    prepare_main(
        __doc__,
        from_raw=lambda raw, out: split(*read_delivered_csv(raw, "train.csv"), out),
        generated=lambda out: split(*generated_table(), out),
    )
