"""Classify arXiv papers into 40 subject areas from their citation graph (ogbn-arxiv).

Reads the graph from networks/ogbn_arxiv/ (the OGB files, described in
data_description.txt), trains a two-layer GraphSAGE model (mean aggregation over a sparse
adjacency matrix, plain PyTorch) on the train nodes, prints its train and validation
accuracy after every epoch, then predicts the class of every test node and writes
submission.csv (columns node and label).

Rule: train for at most 10 epochs. Runs on the GPU when there is one.
Set MLAB_SMOKE=1 for a quick check of the whole script (one epoch of a few batches).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path("networks") / "ogbn_arxiv"
EPOCHS = 4
BATCH_SIZE = 1024
SMOKE = os.environ.get("MLAB_SMOKE") == "1"


def read_column(path: Path, dtype: type) -> np.ndarray:
    """A gzipped CSV file without header as an array (one column or several)."""
    table = pd.read_csv(path, header=None, compression="gzip")
    return np.array(table.to_numpy(dtype=dtype).squeeze())  # a writable copy, for torch


def load_graph(device: torch.device) -> dict[str, torch.Tensor]:
    """Features, labels (-1 for test nodes), split indices and the adjacency, on `device`."""
    features = read_column(ROOT / "raw" / "node-feat.csv.gz", np.float32)
    labels = read_column(ROOT / "raw" / "node-label.csv.gz", np.int64)
    edges = read_column(ROOT / "raw" / "edge.csv.gz", np.int64).reshape(-1, 2)
    graph = {
        "x": torch.from_numpy(features),
        "y": torch.from_numpy(labels),
        "adj": mean_adjacency(torch.from_numpy(edges), len(labels)),
    }
    for split in ("train", "valid", "test"):
        nodes = read_column(ROOT / "split" / "time" / f"{split}.csv.gz", np.int64).reshape(-1)
        graph[split] = torch.from_numpy(nodes)
    return {name: tensor.to(device) for name, tensor in graph.items()}


def mean_adjacency(edges: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sparse matrix A with A[i, j] = 1 / degree(i) for every neighbour j of i.

    Citations are made undirected (both directions), so A @ x averages the features of the
    papers that a paper cites and of those that cite it.
    """
    both = torch.cat([edges, edges.flip(1)]).T
    ones = torch.ones(both.shape[1])
    shape = (num_nodes, num_nodes)
    adj = torch.sparse_coo_tensor(both, ones, shape, check_invariants=False).coalesce()
    rows, values = adj.indices()[0], torch.ones_like(adj.values())  # repeated edges count once
    degree = torch.zeros(num_nodes).index_add_(0, rows, values).clamp(min=1)
    mean = values / degree[rows]
    return torch.sparse_coo_tensor(adj.indices(), mean, shape, check_invariants=False).coalesce()


class SAGE(nn.Module):
    """GraphSAGE: each layer combines a node's own features with its neighbours' mean.

    The first layer's neighbour means depend only on the input features, so the caller
    computes them once (`x_neighbours = adj @ x`) instead of at every step.
    """

    def __init__(self, in_size: int, hidden: int, classes: int, layers: int = 2) -> None:
        super().__init__()
        sizes = [in_size] + [hidden] * (layers - 1) + [classes]
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        self.own = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.neighbours = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in pairs)

    def forward(
        self, x: torch.Tensor, x_neighbours: torch.Tensor, adj: torch.Tensor
    ) -> torch.Tensor:
        for index, (own, neighbours) in enumerate(zip(self.own, self.neighbours, strict=True)):
            mean = x_neighbours if index == 0 else torch.sparse.mm(adj, x)
            x = own(x) + neighbours(mean)
            if index < len(self.own) - 1:
                x = F.relu(x)
        return x


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Percentage of nodes whose highest-scoring class is their label."""
    return float((logits.argmax(dim=1) == labels).float().mean()) * 100


def main() -> None:
    """Train, report accuracies, predict the test nodes, write submission.csv."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    graph = load_graph(device)
    x, y, adj, train = graph["x"], graph["y"], graph["adj"], graph["train"]
    x_neighbours = torch.sparse.mm(adj, x)  # each node's mean neighbour features
    num_classes = int(y.max()) + 1

    # ******************************************************************************
    # The model and its training: improve them, within at most 10 epochs.
    # ******************************************************************************
    model = SAGE(x.shape[1], hidden=16, classes=num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    epochs = 1 if SMOKE else EPOCHS
    for epoch in range(1, epochs + 1):
        model.train()
        batches = torch.randperm(len(train), device=device).split(BATCH_SIZE)
        for batch in batches[:3] if SMOKE else batches:
            nodes = train[batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x, x_neighbours, adj)[nodes], y[nodes])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x, x_neighbours, adj)
        train_acc = accuracy(logits[train], y[train])
        valid_acc = accuracy(logits[graph["valid"]], y[graph["valid"]])
        print(f"Epoch {epoch}: loss {loss.item():.4f}, train {train_acc:.2f}%, ", end="")
        print(f"valid {valid_acc:.2f}%")
    # ******************************************************************************

    print(f"Train accuracy: {train_acc:.2f}%")
    print(f"Validation accuracy: {valid_acc:.2f}%")
    test = graph["test"]
    submission = pd.DataFrame(
        {"node": test.cpu().numpy(), "label": logits[test].argmax(dim=1).cpu().numpy()}
    )
    submission.to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
