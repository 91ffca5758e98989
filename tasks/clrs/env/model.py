"""The model: a message-passing network that predicts Floyd-Warshall's predecessor matrix.

The grader loads the saved model exactly like this (see data_description.txt):

    import model
    params = dict(numpy.load("checkpoints/params.npz"))
    pi = model.predict(params, {"pos": pos, "A": A, "adj": adj})

`predict` takes a batch of graphs (pos: (B, n), A and adj: (B, n, n), float32 numpy arrays)
and returns the predicted pointers, integers of shape (B, n, n): pi[b, i, j] is the node just
before j on a shortest path from i to j. Whatever you change here, `predict(params, inputs)`
must keep working with the parameters that train.py saved in checkpoints/params.npz.

The network: nodes and edges are embedded, then `n` rounds (one per node, as Floyd-Warshall
has n steps) of message passing update the node and edge states; a decoder scores, for every
pair (i, j), each node k as the predecessor of j.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, jax.Array]
HIDDEN = 64


def init_params(rng: np.random.Generator, hidden: int = HIDDEN) -> dict[str, np.ndarray]:
    """Random initial parameters (Glorot-uniform weights, zero biases) as float32 arrays."""
    shapes = {
        "node_in": (1, hidden),  # pos
        "edge_in": (2, hidden),  # A, adj
        "msg": (3 * hidden, hidden),  # sender, receiver, edge
        "node_up": (2 * hidden, hidden),  # node, aggregated messages
        "edge_up": (3 * hidden + 2, hidden),  # edge, its two end nodes, A and adj again
        "dec": (3 * hidden, hidden),  # edge (i, k), edge (k, j), edge (i, j)
        "dec_out": (hidden, 1),
    }
    params = {}
    for name, (fan_in, fan_out) in shapes.items():
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params[f"{name}_w"] = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
        params[f"{name}_b"] = np.zeros(fan_out, np.float32)
    return params


def dense(params: Params, name: str, x: jax.Array) -> jax.Array:
    """x @ W + b for the layer `name`."""
    return x @ params[f"{name}_w"] + params[f"{name}_b"]


def normalize(x: jax.Array) -> jax.Array:
    """Layer normalisation without learned scale: keeps the states bounded over many rounds."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + 1e-5)


def process(
    params: Params, h: jax.Array, e: jax.Array, A: jax.Array, adj: jax.Array
) -> tuple[jax.Array, ...]:
    """One round of message passing along the edges of the graph (and the self-loops).

    Nodes take the maximum of their incoming messages; edges are then updated from their
    state, their two end nodes and the raw inputs A and adj.
    """
    senders = jnp.broadcast_to(h[:, :, None, :], e.shape)
    receivers = jnp.broadcast_to(h[:, None, :, :], e.shape)
    messages = jax.nn.relu(dense(params, "msg", jnp.concatenate([senders, receivers, e], -1)))
    messages = jnp.where(adj[..., None] > 0, messages, -1e9)
    aggregated = jnp.max(messages, axis=1)  # over senders i, for each receiver j
    h = normalize(jax.nn.relu(dense(params, "node_up", jnp.concatenate([h, aggregated], -1))))
    senders = jnp.broadcast_to(h[:, :, None, :], e.shape)
    receivers = jnp.broadcast_to(h[:, None, :, :], e.shape)
    inputs = jnp.stack([A, adj], -1)  # the raw edge inputs, seen again in every round
    edge_in = jnp.concatenate([e, senders, receivers, inputs], -1)
    e = normalize(jax.nn.relu(dense(params, "edge_up", edge_in)))
    return h, e


def logits(params: Params, pos: jax.Array, A: jax.Array, adj: jax.Array) -> jax.Array:
    """Scores (B, n, n, n): [b, i, j, k] is the score of k as the predecessor of j from i."""
    h = jax.nn.relu(dense(params, "node_in", pos[..., None]))
    e = jax.nn.relu(dense(params, "edge_in", jnp.stack([A, adj], -1)))

    def step(carry: tuple[jax.Array, jax.Array], _: None) -> tuple[tuple[jax.Array, ...], None]:
        return process(params, *carry, A, adj), None

    (h, e), _ = jax.lax.scan(step, (h, e), None, length=pos.shape[1])
    nodes = pos.shape[1]
    # pair[b, i, j, k] = (e[b, i, k], e[b, k, j], e[b, i, j])
    e_ik = jnp.broadcast_to(e[:, :, None, :, :], (e.shape[0], nodes, nodes, nodes, e.shape[-1]))
    e_kj = jnp.broadcast_to(
        jnp.swapaxes(e, 1, 2)[:, None, :, :, :], (e.shape[0], nodes, nodes, nodes, e.shape[-1])
    )
    e_ij = jnp.broadcast_to(e[:, :, :, None, :], e_ik.shape)
    hidden = jax.nn.relu(dense(params, "dec", jnp.concatenate([e_ik, e_kj, e_ij], -1)))
    return dense(params, "dec_out", hidden)[..., 0]


@jax.jit
def _predict(params: Params, pos: jax.Array, A: jax.Array, adj: jax.Array) -> jax.Array:
    return jnp.argmax(logits(params, pos, A, adj), axis=-1)


def predict(params: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The predicted pointers (B, n, n) of a batch of graphs, as an int32 numpy array."""
    arrays = [jnp.asarray(inputs[key], jnp.float32) for key in ("pos", "A", "adj")]
    weights = {name: jnp.asarray(value) for name, value in params.items()}
    return np.asarray(_predict(weights, *arrays), dtype=np.int32)
