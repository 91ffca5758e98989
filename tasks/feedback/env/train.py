"""Score English learners' essays on six analytic measures.

Reads train.csv (essays with their cohesion, syntax, vocabulary, phraseology, grammar and
conventions scores) and test.csv (essays without), fits a model on 90% of train.csv, reports
its MCRMSE (mean over the six measures of the root mean squared error) on the other 10%,
then predicts the six scores of every essay of test.csv and writes submission.csv.

data_description.txt explains the data and the measures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

MEASURES = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]


def mcrmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the columns of the root mean squared error."""
    return float(np.mean(np.sqrt(np.mean((truth - predicted) ** 2, axis=0))))


def main() -> None:
    """Fit, validate, predict the test essays, write submission.csv."""
    # text_id as text: an id made only of digits must keep its leading zeros.
    essays = pd.read_csv("train.csv", dtype={"text_id": str})
    test_essays = pd.read_csv("test.csv", dtype={"text_id": str})

    train_part, valid_part = train_test_split(essays, test_size=0.1, random_state=42)
    train_y = train_part[MEASURES].to_numpy(dtype=float)
    valid_y = valid_part[MEASURES].to_numpy(dtype=float)

    # ******************************************************************************
    # Your modelling goes here: try other text features and models. Keep the names
    # vectorizer, model, train_score and valid_score: they are used below.
    # ******************************************************************************
    vectorizer = TfidfVectorizer(max_features=5000)
    train_x = vectorizer.fit_transform(train_part["full_text"])
    valid_x = vectorizer.transform(valid_part["full_text"])
    model = Ridge(alpha=1.0)
    model.fit(train_x, train_y)
    train_score = mcrmse(train_y, model.predict(train_x))
    valid_score = mcrmse(valid_y, model.predict(valid_x))
    # ******************************************************************************
    # End of the modelling section.
    # ******************************************************************************

    print(f"Train MCRMSE: {train_score:.4f}")
    print(f"Validation MCRMSE: {valid_score:.4f}")

    predicted = model.predict(vectorizer.transform(test_essays["full_text"]))
    submission = pd.DataFrame(np.clip(predicted, 1.0, 5.0), columns=MEASURES)
    submission.insert(0, "text_id", test_essays["text_id"])
    submission.to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
