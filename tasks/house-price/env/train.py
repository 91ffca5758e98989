"""Predict the sale price of houses in Ames, Iowa.

Reads train.csv (houses with their SalePrice) and test.csv (houses without), fits a model on
part of train.csv, reports its mean absolute error (MAE) on the training part and on a held
out validation part, then predicts a price for every house of test.csv and writes
submission.csv with the columns Id and SalePrice.

data_description.txt explains every column.
"""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

TARGET = "SalePrice"

# A first choice of numeric columns without missing values.
FEATURES = [
    "OverallQual",
    "GrLivArea",
    "YearBuilt",
    "LotArea",
    "FullBath",
    "BedroomAbvGr",
    "TotRmsAbvGrd",
    "Fireplaces",
]


def main() -> None:
    """Fit, validate, predict the test houses, write submission.csv."""
    houses = pd.read_csv("train.csv")
    test_houses = pd.read_csv("test.csv")

    features = houses[FEATURES]
    prices = houses[TARGET]
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, prices, test_size=0.25, random_state=1
    )

    # ******************************************************************************
    # Your modelling goes here: choose and engineer features, try other models and
    # settings. Keep the names model, train_mae and valid_mae: they are used below.
    # ******************************************************************************
    model = RandomForestRegressor(n_estimators=100, random_state=1, n_jobs=1)
    model.fit(train_x, train_y)
    train_mae = mean_absolute_error(train_y, model.predict(train_x))
    valid_mae = mean_absolute_error(valid_y, model.predict(valid_x))
    # ******************************************************************************
    # End of the modelling section.
    # ******************************************************************************

    print(f"Train MAE: {train_mae:,.0f}")
    print(f"Validation MAE: {valid_mae:,.0f}")

    test_predictions = model.predict(test_houses[FEATURES])
    submission = pd.DataFrame({"Id": test_houses["Id"], "SalePrice": test_predictions})
    submission.to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
