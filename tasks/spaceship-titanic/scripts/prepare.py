"""Data preparation for the spaceship-titanic task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds Kaggle's train.csv
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

Only Kaggle's labelled train.csv is used (its test.csv has no outcomes). RAW/train.csv is read
as delivered; when the competition zip was left packed, train.csv is read from inside it.
The published split is kept: the first 80% of the rows in file order (floor(4 n / 5)) become
DIR/public/train.csv, the rest DIR/public/test.csv without the Transported column, and their
outcomes DIR/private/answer.csv (PassengerId, Transported). Values are copied as text,
unchanged (an empty field stays empty).

--generated draws 400 passengers with Kaggle's 14 columns, its codes, its id and cabin
formats and about 2% missing values per column; Transported depends on cryosleep, spending,
home planet and deck, so that a model has something to learn. The output is byte-identical
on every run (one numpy Generator with a fixed seed, fixed column order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import (
    PrepareError,
    prepare_main,
    read_delivered_csv,
    write_csv,
)

TRAIN_NUMERATOR, TRAIN_DENOMINATOR = 4, 5  # 80% train, in file order
GENERATED_ROWS = 400
GENERATED_SEED = 20_240_602
ID, TARGET = "PassengerId", "Transported"
COLUMNS: tuple[str, ...] = (
    "PassengerId", "HomePlanet", "CryoSleep", "Cabin", "Destination", "Age", "VIP",
    "RoomService", "FoodCourt", "ShoppingMall", "Spa", "VRDeck", "Name", "Transported",
)  # fmt: skip
SPENDING = ("RoomService", "FoodCourt", "ShoppingMall", "Spa", "VRDeck")


def check_table(header: list[str], rows: list[list[str]]) -> None:
    """Raise PrepareError unless ids are unique and every outcome is True or False."""
    for column in (ID, TARGET):
        if column not in header:
            raise PrepareError(f"train.csv has no {column} column")
    if len(rows) < 2:
        raise PrepareError(f"train.csv has {len(rows)} data rows; at least 2 are needed")
    id_index, target_index = header.index(ID), header.index(TARGET)
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise PrepareError(f"train.csv line {line} has {len(row)} fields, not {len(header)}")
        if row[id_index] in seen:
            raise PrepareError(f"train.csv line {line} repeats {ID} {row[id_index]}")
        seen.add(row[id_index])
        if row[target_index] not in ("True", "False"):
            raise PrepareError(f"train.csv line {line} has {TARGET} {row[target_index]!r}")


def split(header: list[str], rows: list[list[str]], out: Path) -> None:
    """Write public/train.csv, public/test.csv and private/answer.csv under `out`."""
    check_table(header, rows)
    id_index, target_index = header.index(ID), header.index(TARGET)
    n_train = len(rows) * TRAIN_NUMERATOR // TRAIN_DENOMINATOR
    train_rows, test_rows = rows[:n_train], rows[n_train:]

    def without_target(fields: Sequence[str]) -> list[str]:
        return [value for index, value in enumerate(fields) if index != target_index]

    write_csv(out / "public" / "train.csv", header, train_rows)
    write_csv(out / "public" / "test.csv", without_target(header), map(without_target, test_rows))
    answers = [[row[id_index], row[target_index]] for row in test_rows]
    write_csv(out / "private" / "answer.csv", [ID, TARGET], answers)


# --- --generated ---------------------------------------------------------------------------

FIRST_NAMES = (
    "Alraium", "Ankalik", "Blanie", "Carry", "Dian", "Elaney", "Gwendy", "Hanna", "Jamie",
    "Kaelly", "Lerome", "Mollen", "Naosh", "Oraga", "Princy", "Queel", "Reney", "Sandie",
    "Tinez", "Ulah", "Vinda", "Weiss", "Yanna", "Zubeneb",
)  # fmt: skip
LAST_NAMES = (
    "Ambleetive", "Barbes", "Coopery", "Dunnisey", "Emenez", "Flowensley", "Grifford",
    "Hinetthews", "Jacostanley", "Kraie", "Lopez", "Mcfaddennon", "Nolanson", "Oconley",
    "Pinnerson", "Rhetorbit", "Sutty", "Tracyery", "Unhaftsmon", "Wiggs",
)  # fmt: skip
PLANETS = ("Earth", "Europa", "Mars")
DESTINATIONS = ("TRAPPIST-1e", "55 Cancri e", "PSO J318.5-22")
DECKS = ("A", "B", "C", "D", "E", "F", "G", "T")


def generated_table(
    n: int = GENERATED_ROWS, seed: int = GENERATED_SEED
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a synthetic train.csv, every value as its CSV text."""
    rng = np.random.default_rng(seed)
    # Travel groups of 1 to 4 passengers, numbered in order as in the real file.
    group_sizes = rng.choice([1, 1, 1, 2, 2, 3, 4], size=n)
    groups = np.repeat(np.arange(1, n + 1), group_sizes)[:n]
    member = np.zeros(n, dtype=int)
    for index in range(1, n):
        member[index] = member[index - 1] + 1 if groups[index] == groups[index - 1] else 0
    planet = rng.choice(3, size=n, p=[0.54, 0.25, 0.21])[groups - 1]  # one planet per group
    cryo = rng.random(n) < 0.35
    destination = rng.choice(3, size=n, p=[0.69, 0.21, 0.10])
    age = np.clip(np.round(rng.normal(29, 14, n)), 0, 79).astype(int)
    vip = (rng.random(n) < 0.03) & (planet != 0)
    deck_weights = np.array(
        [[0.0, 0.0, 0.0, 0.0, 0.2, 0.35, 0.45, 0.0],  # Earth: lower decks
         [0.25, 0.3, 0.3, 0.08, 0.06, 0.0, 0.0, 0.01],  # Europa: upper decks
         [0.0, 0.0, 0.0, 0.25, 0.3, 0.45, 0.0, 0.0]]  # Mars
    )  # fmt: skip
    deck = np.array([rng.choice(8, p=deck_weights[home]) for home in planet])
    cabin_number = rng.integers(0, 1800, n)
    side = rng.choice(["P", "S"], size=n)
    spend_scale = np.array([600.0, 1500.0, 500.0])[planet] * (1 + 2 * vip)
    spending = {}
    for column in SPENDING:
        pays = (~cryo) & (age >= 13) & (rng.random(n) < 0.4)
        amount = np.round(rng.exponential(1.0, n) * spend_scale)
        spending[column] = np.where(pays, amount, 0.0)
    total = sum(spending[column] for column in ("RoomService", "Spa", "VRDeck"))
    logit = (
        -0.2
        + 2.2 * cryo
        - 0.0015 * np.minimum(total, 3000)
        + 0.5 * (planet == 1)
        + 0.3 * (deck == 1)
        + 0.3 * (side == "S")
        + 0.4 * (age < 13)
    )
    transported = rng.random(n) < 1 / (1 + np.exp(-logit))

    first = rng.choice(FIRST_NAMES, size=n)
    family = rng.choice(LAST_NAMES, size=n)[groups - 1]
    text: dict[str, list[str]] = {
        "PassengerId": [f"{g:04d}_{m + 1:02d}" for g, m in zip(groups, member, strict=True)],
        "HomePlanet": [PLANETS[home] for home in planet],
        "CryoSleep": [str(bool(value)) for value in cryo],
        "Cabin": [f"{DECKS[d]}/{c}/{s}" for d, c, s in zip(deck, cabin_number, side, strict=True)],
        "Destination": [DESTINATIONS[d] for d in destination],
        "Age": [f"{value:.1f}" for value in age],
        "VIP": [str(bool(value)) for value in vip],
        **{column: [f"{value:.1f}" for value in spending[column]] for column in SPENDING},
        "Name": [f"{a} {b}" for a, b in zip(first, family, strict=True)],
        "Transported": [str(bool(value)) for value in transported],
    }
    # About 2% missing in every column but the id and the outcome, as in the real file.
    for column in COLUMNS[1:-1]:
        missing = rng.random(n) < 0.02
        pairs = zip(missing, text[column], strict=True)
        text[column] = ["" if gone else value for gone, value in pairs]
    rows = [[text[column][index] for column in COLUMNS] for index in range(n)]
    return list(COLUMNS), rows


if __name__ == "__main__":
    prepare_main(
        __doc__,
        from_raw=lambda raw, out: split(*read_delivered_csv(raw, "train.csv"), out),
        generated=lambda out: split(*generated_table(), out),
    )
