"""Classify IMDb movie reviews as negative (0) or positive (1).

A first, simple model: each review becomes the mean of learned word embeddings (a bag of
words over a vocabulary built from train.parquet), followed by one linear layer. It trains
on 90% of train.parquet for a few epochs, prints its accuracy on the other 10%, then writes
submission.csv: one row per review of test.parquet, in order, with the index column idx and
the columns 0 and 1 holding the probabilities of the negative and the positive class.

The task is to do much better, for example by fine-tuning DistilBERT. When the real data is
prepared, the folder distilbert-base-uncased/ in this workspace holds the pretrained model
(config.json, model.safetensors) and its tokenizer (vocab.txt, tokenizer.json,
tokenizer_config.json). There is no internet, so load it from that folder, e.g. with the
transformers package:

    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained("distilbert-base-uncased")
    model = AutoModelForSequenceClassification.from_pretrained(
        "distilbert-base-uncased", num_labels=2
    )

Rules: train for at most 5 epochs, and keep writing the per-class probabilities of every test
review to submission.csv. data_description.txt describes the files.
"""

from __future__ import annotations

import os
import re
from collections import Counter

import numpy as np
import pandas as pd
import torch
from torch import nn

SEED = 0
EPOCHS = 3  # the rules allow at most 5
BATCH_SIZE = 32
VOCAB_SIZE = 20_000
EMBEDDING_DIM = 64
LEARNING_RATE = 1e-2
# MLAB_SMOKE=1 is set only by the test suite's quick runs: one pass over a few batches.
SMOKE = os.environ.get("MLAB_SMOKE") == "1"
SMOKE_BATCHES = 20

WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-case words of a review, without its "<br />" tags."""
    return WORD.findall(text.replace("<br />", " ").lower())


def build_vocabulary(texts: pd.Series, size: int = VOCAB_SIZE) -> dict[str, int]:
    """The `size` most frequent words of `texts` (seen at least twice), numbered from 1."""
    counts = Counter(word for text in texts for word in tokenize(text))
    common = [word for word, n in counts.most_common(size) if n >= 2]
    return {word: number for number, word in enumerate(common, start=1)}


def encode(texts: pd.Series, vocabulary: dict[str, int]) -> list[torch.Tensor]:
    """Each review as the numbers of its known words (unknown words are dropped)."""
    return [
        torch.tensor([vocabulary[w] for w in tokenize(text) if w in vocabulary], dtype=torch.long)
        for text in texts
    ]


def batch(reviews: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Word numbers of several reviews end to end, and where each review starts."""
    lengths = torch.tensor([0] + [len(review) for review in reviews[:-1]])
    flat = torch.cat(reviews) if reviews else torch.empty(0, dtype=torch.long)
    return flat.to(device), torch.cumsum(lengths, 0).to(device)


class BagOfWords(nn.Module):
    """Mean of the word embeddings of a review, then a linear layer to two class scores."""

    def __init__(self, vocabulary_size: int) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocabulary_size + 1, EMBEDDING_DIM, mode="mean")
        self.classify = nn.Linear(EMBEDDING_DIM, 2)

    def forward(self, words: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embedding(words, offsets))


def train(
    model: nn.Module, reviews: list[torch.Tensor], labels: np.ndarray, device: torch.device
) -> None:
    """Adam on the cross-entropy, in shuffled batches, for EPOCHS epochs (1 short one in smoke)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(SEED)
    for epoch in range(1 if SMOKE else EPOCHS):
        model.train()
        order = rng.permutation(len(reviews))
        starts = range(0, len(order), BATCH_SIZE)
        total = 0.0
        for number, start in enumerate(starts):
            if SMOKE and number == SMOKE_BATCHES:
                break
            chosen = order[start : start + BATCH_SIZE]
            words, offsets = batch([reviews[i] for i in chosen], device)
            target = torch.tensor(labels[chosen], dtype=torch.long, device=device)
            optimizer.zero_grad()
            loss = loss_fn(model(words, offsets), target)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
        print(f"Epoch {epoch + 1}: training loss {total / len(order):.4f}")


@torch.no_grad()
def predict(model: nn.Module, reviews: list[torch.Tensor], device: torch.device) -> np.ndarray:
    """Class probabilities, one row per review: P(negative), P(positive)."""
    model.eval()
    parts = []
    for start in range(0, len(reviews), 256):
        words, offsets = batch(reviews[start : start + 256], device)
        parts.append(torch.softmax(model(words, offsets), dim=1).cpu().numpy())
    return np.concatenate(parts)


def main() -> None:
    """Train, validate, predict the test reviews, write submission.csv."""
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    reviews = pd.read_parquet("train.parquet")
    test_reviews = pd.read_parquet("test.parquet")

    # train.parquet is sorted by label: hold out a random 10% for validation.
    order = np.random.default_rng(SEED).permutation(len(reviews))
    n_valid = len(reviews) // 10
    valid_part, train_part = reviews.iloc[order[:n_valid]], reviews.iloc[order[n_valid:]]

    vocabulary = build_vocabulary(train_part["text"])
    model = BagOfWords(len(vocabulary)).to(device)
    train(model, encode(train_part["text"], vocabulary), train_part["label"].to_numpy(), device)

    valid_probabilities = predict(model, encode(valid_part["text"], vocabulary), device)
    valid_accuracy = np.mean(valid_probabilities.argmax(axis=1) == valid_part["label"].to_numpy())
    print(f"Validation accuracy: {100 * valid_accuracy:.2f}%")

    probabilities = predict(model, encode(test_reviews["text"], vocabulary), device)
    submission = pd.DataFrame(probabilities, columns=[0, 1], index=test_reviews["idx"])
    submission.to_csv("submission.csv", index_label="idx")


if __name__ == "__main__":
    main()
