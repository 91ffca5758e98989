"""Data preparation of the house-price task (tasks/house-price/scripts/prepare.py).

--raw keeps the published split (first 80% of train.csv in file order -> train, the rest ->
test without SalePrice + answer key) and copies values as text; --generated is offline,
byte-identical across runs, and has Kaggle's 81 columns with their patterns of missing values.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

TASK = Path(__file__).resolve().parents[1] / "tasks" / "house-price"
PREPARE = TASK / "scripts" / "prepare.py"


# The header of Kaggle's train.csv, written out here on purpose: an independent check of
# the list in prepare.py.
KAGGLE_HEADER = """
Id MSSubClass MSZoning LotFrontage LotArea Street Alley LotShape LandContour Utilities
LotConfig LandSlope Neighborhood Condition1 Condition2 BldgType HouseStyle OverallQual
OverallCond YearBuilt YearRemodAdd RoofStyle RoofMatl Exterior1st Exterior2nd MasVnrType
MasVnrArea ExterQual ExterCond Foundation BsmtQual BsmtCond BsmtExposure BsmtFinType1
BsmtFinSF1 BsmtFinType2 BsmtFinSF2 BsmtUnfSF TotalBsmtSF Heating HeatingQC CentralAir
Electrical 1stFlrSF 2ndFlrSF LowQualFinSF GrLivArea BsmtFullBath BsmtHalfBath FullBath
HalfBath BedroomAbvGr KitchenAbvGr KitchenQual TotRmsAbvGrd Functional Fireplaces
FireplaceQu GarageType GarageYrBlt GarageFinish GarageCars GarageArea GarageQual GarageCond
PavedDrive WoodDeckSF OpenPorchSF EnclosedPorch 3SsnPorch ScreenPorch PoolArea PoolQC Fence
MiscFeature MiscVal MoSold YrSold SaleType SaleCondition SalePrice
"""
COLUMNS = KAGGLE_HEADER.split()
Rows = list[list[str]]


def prepare(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run prepare.py with `args`; the caller checks the outcome."""
    return subprocess.run(
        [sys.executable, str(PREPARE), *args], capture_output=True, text=True, env=env
    )


def raw_rows(n: int) -> Rows:
    """`n` hand-made rows of a raw train.csv: Ids 101.., prices 1000 * Id, "NA" elsewhere."""
    rows = []
    for index in range(n):
        row = ["NA"] * len(COLUMNS)
        row[0] = str(101 + index)
        row[COLUMNS.index("LotArea")] = str(8000 + index)
        row[COLUMNS.index("Neighborhood")] = "C (all)" if index % 2 else "NAmes"
        row[-1] = str(1000 * (101 + index))
        rows.append(row)
    return rows


def write_raw(path: Path, rows: Rows) -> str:
    """Write a raw train.csv as Kaggle does (plain CSV, "\\n" line ends); return its text."""
    lines = [",".join(COLUMNS)] + [",".join(row) for row in rows]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def test_raw_split_keeps_file_order_and_text(tmp_path: Path) -> None:
    raw_text = write_raw(tmp_path / "raw" / "train.csv", raw_rows(10))

    done = prepare("--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode == 0, done.stderr
    raw_lines = raw_text.splitlines()
    train_lines = (tmp_path / "out" / "public" / "train.csv").read_text().splitlines()
    assert train_lines == raw_lines[:9]  # header + the first 8 rows, unchanged text
    with (tmp_path / "out" / "public" / "test.csv").open() as file:
        test = list(csv.reader(file))
    assert test[0] == COLUMNS[:-1]  # no SalePrice
    assert [row[0] for row in test[1:]] == ["109", "110"]
    assert test[2][COLUMNS.index("Neighborhood")] == "C (all)"
    assert all(row[COLUMNS.index("Alley")] == "NA" for row in test[1:])
    answer = (tmp_path / "out" / "private" / "answer.csv").read_text()
    assert answer == "Id,SalePrice\n109,109000\n110,110000\n"
    assert sorted(path.name for path in (tmp_path / "out").rglob("*.csv")) == [
        "answer.csv",
        "test.csv",
        "train.csv",
    ]


@pytest.mark.parametrize(("rows", "n_train"), [(1460, 1168), (5, 4), (7, 5), (2, 1)])
def test_raw_split_sizes_are_the_floor_of_80_percent(
    tmp_path: Path, rows: int, n_train: int
) -> None:
    write_raw(tmp_path / "raw" / "train.csv", raw_rows(rows))

    assert prepare("--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out")).returncode == 0

    train = pd.read_csv(tmp_path / "out" / "public" / "train.csv")
    answer = pd.read_csv(tmp_path / "out" / "private" / "answer.csv")
    assert (len(train), len(answer)) == (n_train, rows - n_train)


def test_raw_reads_train_csv_from_the_competition_zip(tmp_path: Path) -> None:
    text = write_raw(tmp_path / "unpacked" / "train.csv", raw_rows(10))
    (tmp_path / "raw").mkdir()
    with zipfile.ZipFile(tmp_path / "raw" / "home-data-for-ml-course.zip", "w") as zipped:
        zipped.writestr("test.csv", "Id\n1\n")  # Kaggle's unlabelled test set: ignored
        zipped.writestr("train.csv", text)
        zipped.writestr("data_description.txt", "not ours\n")

    assert (
        prepare("--raw", str(tmp_path / "unpacked"), "--out", str(tmp_path / "a")).returncode == 0
    )
    assert prepare("--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "b")).returncode == 0

    for name in ("public/train.csv", "public/test.csv", "private/answer.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[:3] + [rows[2]] + rows[4:], "repeats Id 103"),
        (lambda rows: [*rows[:5], [*rows[5][:-1], "NA"], *rows[6:]], "has SalePrice 'NA'"),
        (lambda rows: [*rows[:5], rows[5][:-1], *rows[6:]], "has 80 fields, not 81"),
    ],
    ids=["duplicate-id", "missing-price", "short-row"],
)
def test_raw_rejects_broken_input(
    tmp_path: Path, edit: Callable[[Rows], Rows], message: str
) -> None:
    write_raw(tmp_path / "raw" / "train.csv", edit(raw_rows(10)))

    done = prepare("--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode != 0
    assert message in done.stderr


def test_raw_without_train_csv_says_so(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()

    done = prepare("--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode != 0
    assert "no train.csv in" in done.stderr


def test_generated_is_byte_identical_across_runs(tmp_path: Path) -> None:
    for name, hash_seed in (("first", "1"), ("second", "4242")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = prepare("--generated", "--out", str(tmp_path / name), env=env)
        assert done.returncode == 0, done.stderr

    for name in ("public/train.csv", "public/test.csv", "private/answer.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_generated_has_the_kaggle_schema_and_missing_value_patterns(tmp_path: Path) -> None:
    assert prepare("--generated", "--out", str(tmp_path)).returncode == 0

    train = pd.read_csv(tmp_path / "public" / "train.csv")
    test = pd.read_csv(tmp_path / "public" / "test.csv")
    answer = pd.read_csv(tmp_path / "private" / "answer.csv")
    assert len(COLUMNS) == 81 and COLUMNS[0] == "Id" and COLUMNS[-1] == "SalePrice"
    assert list(train.columns) == COLUMNS
    assert list(test.columns) == COLUMNS[:-1]
    assert (len(train), len(test)) == (320, 80)
    assert list(answer.columns) == ["Id", "SalePrice"]
    assert list(answer["Id"]) == list(test["Id"]) == list(range(321, 401))
    assert (answer["SalePrice"] > 0).all() and answer["SalePrice"].dtype.kind == "i"

    houses = pd.concat([train, test])
    for column in ("LotFrontage", "Alley", "PoolQC", "Fence", "MiscFeature", "FireplaceQu"):
        assert houses[column].isna().any(), column
    for column in ("LotArea", "OverallQual", "YearBuilt", "GrLivArea", "Neighborhood"):
        assert houses[column].notna().all(), column
    assert houses["Alley"].isna().mean() > 0.8
    no_basement = houses["TotalBsmtSF"] == 0
    assert no_basement.any()
    for column in ("BsmtQual", "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinType2"):
        assert (houses[column].isna() == no_basement).all(), column
    no_garage = houses["GarageCars"] == 0
    assert no_garage.any()
    for column in ("GarageType", "GarageYrBlt", "GarageFinish", "GarageQual", "GarageCond"):
        assert (houses[column].isna() == no_garage).all(), column
    assert (houses["FireplaceQu"].isna() == (houses["Fireplaces"] == 0)).all()
    assert (houses["PoolQC"].isna() == (houses["PoolArea"] == 0)).all()
    floors = houses["1stFlrSF"] + houses["2ndFlrSF"] + houses["LowQualFinSF"]
    assert (houses["GrLivArea"] == floors).all()
    parts = houses["BsmtFinSF1"] + houses["BsmtFinSF2"] + houses["BsmtUnfSF"]
    assert (houses["TotalBsmtSF"] == parts).all()
    assert (houses["YearBuilt"] <= houses["YearRemodAdd"]).all()
    assert (houses["YearBuilt"] <= houses["YrSold"]).all()
    assert set(houses["MSZoning"]) <= {"RL", "RM", "FV", "RH", "C (all)"}
    # Quality drives the price, as in the real data.
    assert train["SalePrice"].corr(train["OverallQual"]) > 0.6


def test_data_description_explains_every_column() -> None:
    text = (TASK / "env" / "data_description.txt").read_text()
    described = set(re.findall(r"^(\w+) {2,}", text, flags=re.MULTILINE))

    assert described == set(COLUMNS)
