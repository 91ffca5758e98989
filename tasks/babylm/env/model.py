"""The starter's language model: a byte-level LSTM, in the format the grader loads.

train.py trains it, saves its weights to output/weights.pt and copies this file to
output/model.py. The grader imports output/model.py and calls `load("output")`; the object
it returns must have (see model_format.txt):

    vocab_size                 the number of token ids
    eos_id                     the id of the token that ends a text
    encode(text) -> ids        a list of ints in [0, vocab_size)
    decode(ids) -> text        decode(encode(text)) == text for every text
    log_probs(ids) -> matrix   (len(ids) + 1) x vocab_size natural-log probabilities: row i is
                               the distribution of the token after ids[:i]; the last row gives
                               the probability of eos_id after the whole text

Tokens here are the UTF-8 bytes of the text (ids 0-255) and one end-of-text token (256),
which also starts every text as its first input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

EOS_ID = 256
VOCAB_SIZE = 257
WEIGHTS = "weights.pt"


class ByteLSTM(nn.Module):
    """Embedding, a stacked LSTM and a linear layer to the next token's logits."""

    def __init__(self, embedding: int = 64, hidden: int = 512, layers: int = 2) -> None:
        super().__init__()
        self.config = {"embedding": embedding, "hidden": hidden, "layers": layers}
        self.embed = nn.Embedding(VOCAB_SIZE, embedding)
        self.lstm = nn.LSTM(embedding, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB_SIZE)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of the next token at every position of a (batch, length) id tensor."""
        output, _ = self.lstm(self.embed(ids))
        return self.head(output)


def encode(text: str) -> list[int]:
    """The UTF-8 bytes of `text`."""
    return list(text.encode("utf-8"))


def decode(ids: list[int]) -> str:
    """The text of byte ids (the end-of-text token is skipped)."""
    return bytes(i for i in ids if i != EOS_ID).decode("utf-8", errors="replace")


class LanguageModel:
    """A trained ByteLSTM behind the interface the grader uses."""

    vocab_size = VOCAB_SIZE
    eos_id = EOS_ID

    def __init__(self, net: ByteLSTM, device: torch.device) -> None:
        self.net = net.to(device).eval()
        self.device = device

    encode = staticmethod(encode)
    decode = staticmethod(decode)

    @torch.no_grad()
    def log_probs(self, ids: list[int]) -> torch.Tensor:
        """Next-token log-probabilities after [EOS] + ids[:i], for i = 0 .. len(ids)."""
        inputs = torch.tensor([[EOS_ID, *ids]], dtype=torch.long, device=self.device)
        return torch.log_softmax(self.net(inputs)[0].float(), dim=-1)

    def save(self, output_dir: Path) -> None:
        """Write the weights and the architecture to output_dir/weights.pt."""
        output_dir.mkdir(parents=True, exist_ok=True)
        state = {"config": self.net.config, "state_dict": self.net.state_dict()}
        torch.save(state, output_dir / WEIGHTS)


def load(output_dir: str) -> LanguageModel:
    """The trained model saved in `output_dir` (on the GPU when there is one)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    state = torch.load(Path(output_dir) / WEIGHTS, map_location=device, weights_only=True)
    net = ByteLSTM(**state["config"])
    net.load_state_dict(state["state_dict"])
    return LanguageModel(net, device)
