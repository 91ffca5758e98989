"""Train the baseline model on Floyd-Warshall (CLRS-30) and save it for the grader.

Reads train.npz and val.npz (see data_description.txt), trains the message-passing network of
model.py for TRAIN_STEPS steps of Adam on random batches of training graphs, checks the
validation score every EVAL_EVERY steps and saves the parameters with the best validation
score to checkpoints/params.npz. The score is the fraction of entries (i, j) of the
predecessor matrix pi that the model gets right.

The grader loads checkpoints/params.npz, calls model.predict on the hidden test graphs (which
are larger than the training graphs) and reports the same score.

With the environment variable MLAB_SMOKE=1 (set by the test suite only) it trains for a few
steps, to check that everything runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import model
import numpy as np

SMOKE = os.environ.get("MLAB_SMOKE") == "1"
TRAIN_STEPS = 10 if SMOKE else 500
EVAL_EVERY = 5 if SMOKE else 50
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SEED = 42
CHECKPOINT = Path("checkpoints") / "params.npz"


def load(name: str) -> dict[str, np.ndarray]:
    """All arrays of an .npz data file."""
    with np.load(name) as data:
        return {key: data[key] for key in data.files}


def loss_fn(params: model.Params, batch: dict[str, jax.Array]) -> jax.Array:
    """Mean cross-entropy of the true predecessor pi[i, j] among the n nodes."""
    scores = model.logits(params, batch["pos"], batch["A"], batch["adj"])
    log_probs = jax.nn.log_softmax(scores, axis=-1)
    picked = jnp.take_along_axis(log_probs, batch["pi"][..., None], axis=-1)
    return -jnp.mean(picked)


@jax.jit
def train_step(
    params: model.Params, moments: tuple, step: jax.Array, batch: dict[str, jax.Array]
) -> tuple[model.Params, tuple, jax.Array]:
    """One step of Adam (written out: no optimiser library needed)."""
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    first, second = moments
    first = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, first, grads)
    second = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, second, grads)
    t = step + 1
    params = jax.tree_util.tree_map(
        lambda p, m, v: (
            p - LEARNING_RATE * (m / (1 - 0.9**t)) / (jnp.sqrt(v / (1 - 0.999**t)) + 1e-8)
        ),
        params,
        first,
        second,
    )
    return params, (first, second), loss


def score(params: model.Params, data: dict[str, np.ndarray]) -> float:
    """Fraction of the entries of pi that the model predicts right, over all graphs."""
    numpy_params = {name: np.asarray(value) for name, value in params.items()}
    predicted = model.predict(numpy_params, data)
    return float(np.mean(predicted == data["pi"]))


def main() -> None:
    """Train, keep the best parameters by validation score, save them."""
    started = time.time()
    train, val = load("train.npz"), load("val.npz")
    graphs, nodes = train["pos"].shape
    print(f"{graphs} training graphs of {nodes} nodes, {len(val['pos'])} validation graphs")

    rng = np.random.default_rng(SEED)
    params = {k: jnp.asarray(v) for k, v in model.init_params(rng).items()}
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    moments = (zeros, zeros)
    best_score, best_params = -1.0, params
    for step in range(TRAIN_STEPS):
        rows = rng.integers(0, graphs, BATCH_SIZE)
        batch = {key: jnp.asarray(train[key][rows]) for key in ("pos", "A", "adj", "pi")}
        params, moments, loss = train_step(params, moments, jnp.asarray(step), batch)
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == TRAIN_STEPS:
            val_score = score(params, val)
            print(f"step {step + 1}: loss {float(loss):.4f}, validation score {val_score:.4f}")
            if val_score > best_score:
                best_score, best_params = val_score, params

    CHECKPOINT.parent.mkdir(exist_ok=True)
    np.savez(CHECKPOINT, **{name: np.asarray(value) for name, value in best_params.items()})
    print(f"Best validation score: {best_score:.4f}")
    print(f"Saved {CHECKPOINT} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
