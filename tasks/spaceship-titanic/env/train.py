"""Predict which passengers of the Spaceship Titanic were transported.

Reads train.csv (passengers with the outcome Transported) and test.csv (passengers without),
fits a model on part of train.csv, reports its accuracy on the training part and on a held
out validation part, then predicts the outcome for every passenger of test.csv and writes
submission.csv with the columns PassengerId and Transported.

task_descriptor.txt explains every column.
"""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

TARGET = "Transported"

# A first choice of categorical columns, one-hot encoded below.
CATEGORICAL = ["HomePlanet", "CryoSleep", "Destination", "VIP", "Deck", "Side"]


def features(passengers: pd.DataFrame) -> pd.DataFrame:
    """One-hot columns of the chosen categories; Cabin split into Deck, Num and Side."""
    table = passengers.copy()
    table[["Deck", "Num", "Side"]] = table["Cabin"].str.split("/", expand=True)
    return pd.get_dummies(table[CATEGORICAL].astype(str)).astype(float)


def main() -> None:
    """Fit, validate, predict the test passengers, write submission.csv."""
    passengers = pd.read_csv("train.csv")
    test_passengers = pd.read_csv("test.csv")

    # A seeded shuffle, then 80% to fit on and 20% to validate on.
    shuffled = passengers.sample(frac=1, random_state=2)
    n_train = int(0.8 * len(shuffled))
    train_part, valid_part = shuffled.iloc[:n_train], shuffled.iloc[n_train:]
    train_x = features(train_part)
    valid_x = features(valid_part).reindex(columns=train_x.columns, fill_value=0.0)
    train_y = train_part[TARGET].astype(bool)
    valid_y = valid_part[TARGET].astype(bool)

    # ******************************************************************************
    # Your modelling goes here: choose and engineer features, try other models and
    # settings. Keep the names model, train_accuracy and valid_accuracy: they are
    # used below.
    # ******************************************************************************
    model = LogisticRegression(max_iter=1000)
    model.fit(train_x, train_y)
    train_accuracy = model.score(train_x, train_y)
    valid_accuracy = model.score(valid_x, valid_y)
    # ******************************************************************************
    # End of the modelling section.
    # ******************************************************************************

    print(f"Train accuracy: {train_accuracy:.4f}")
    print(f"Validation accuracy: {valid_accuracy:.4f}")

    test_x = features(test_passengers).reindex(columns=train_x.columns, fill_value=0.0)
    predictions = model.predict(test_x)
    submission = pd.DataFrame({"PassengerId": test_passengers["PassengerId"], TARGET: predictions})
    submission.to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
