"""Predict the progression of Parkinson's disease (MDS-UPDRS parts 1 to 4).

Reads the clinical visits of train_clinical_data.csv (and supplemental_clinical_data.csv),
fits one model per part and horizon (the rating 0, 6, 12 or 24 months after a visit) that
uses only the month of the visit, reports its score in a cross-validation grouped by patient,
then predicts every test visit of test_clinical_data.csv and writes submission.csv with the
columns prediction_id and rating.

The score is SMAPE of the ratings plus one (smapep1, in %, lower is better).
data_description.txt explains the files and the columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import GroupKFold

PARTS = ["updrs_1", "updrs_2", "updrs_3", "updrs_4"]
HORIZONS = [0, 6, 12, 24]


def smapep1(truth: np.ndarray, prediction: np.ndarray) -> float:
    """SMAPE of y + 1 in %, over the pairs whose truth is known."""
    known = np.isfinite(truth)
    actual, forecast = truth[known] + 1, prediction[known] + 1
    return float(np.mean(np.abs(forecast - actual) / ((actual + forecast) / 2)) * 100)


def pairs(visits: pd.DataFrame, part: str, horizon: int) -> pd.DataFrame:
    """Rows (patient_id, visit_month, target): the rating `horizon` months after a visit."""
    later = visits[["patient_id", "visit_month", part]].copy()
    later["visit_month"] -= horizon
    later = later.rename(columns={part: "target"})
    table = visits[["patient_id", "visit_month"]].merge(later, on=["patient_id", "visit_month"])
    return table.dropna(subset=["target"])


def main() -> None:
    """Cross-validate, fit, predict the test visits, write submission.csv."""
    clinical = pd.concat(
        [pd.read_csv("train_clinical_data.csv"), pd.read_csv("supplemental_clinical_data.csv")]
    )
    test_visits = pd.read_csv("test_clinical_data.csv")

    # ******************************************************************************
    # Your modelling goes here: use the protein and peptide files, engineer features,
    # try other models and settings. Keep the names models and cv_scores: they are
    # used below.
    # ******************************************************************************
    models: dict[tuple[str, int], RandomForestRegressor] = {}
    cv_scores = []
    for part in PARTS:
        for horizon in HORIZONS:
            table = pairs(clinical, part, horizon)
            features, target = table[["visit_month"]], table["target"].to_numpy(dtype=float)
            folds = GroupKFold(n_splits=min(8, table["patient_id"].nunique()))
            predicted = np.empty(len(table))
            for fit_rows, check_rows in folds.split(features, target, table["patient_id"]):
                fold_model = RandomForestRegressor(n_estimators=10, random_state=0)
                fold_model.fit(features.iloc[fit_rows], target[fit_rows])
                predicted[check_rows] = fold_model.predict(features.iloc[check_rows])
            cv_scores.append(smapep1(target, predicted))
            model = RandomForestRegressor(n_estimators=10, random_state=0)
            models[(part, horizon)] = model.fit(features, target)
    # ******************************************************************************
    # End of the modelling section.
    # ******************************************************************************

    print(f"Cross-validated smapep1 per part and horizon: {np.round(cv_scores, 1).tolist()}")
    print(f"Cross-validated smapep1, mean: {np.mean(cv_scores):.2f}")

    rows = []
    for (part, horizon), model in models.items():
        ratings = np.maximum(model.predict(test_visits[["visit_month"]]), 0)
        for patient, month, rating in zip(
            test_visits["patient_id"], test_visits["visit_month"], ratings, strict=True
        ):
            rows.append((f"{patient}_{month}_{part}_plus_{horizon}_months", rating))
    pd.DataFrame(rows, columns=["prediction_id", "rating"]).to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
