"""Data preparation for the babylm task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds babylm_data.zip
    python scripts/prepare.py --generated --out DIR       # a small synthetic corpus, offline

The BabyLM 2023 download, babylm_data.zip, holds the folder babylm_data/ with babylm_10M/
(the strict-small training set), babylm_100M/ (the strict track's, not used here),
babylm_dev/ and babylm_test/, each with one plain-text file per domain: <domain>.train,
<domain>.dev and <domain>.test. RAW may hold the zip as downloaded or the folder unpacked.

The published split is kept, the files are copied byte for byte:

    DIR/public/babylm_data/babylm_10M/<domain>.train    training corpus (the agent's)
    DIR/public/babylm_data/babylm_dev/<domain>.dev      development set (the agent's)
    DIR/private/babylm_test/<domain>.test               the held-out test set (grader only)

--generated writes the same layout with a small corpus from a toy grammar: every domain has
its own words, sentence lengths and line format, so a model can learn something in a few
steps. The output is byte-identical on every run.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

DOMAINS = (
    "aochildes", "bnc_spoken", "cbt", "children_stories", "gutenberg", "open_subtitles",
    "qed", "simple_wikipedia", "switchboard", "wikipedia",
)  # fmt: skip
ARCHIVE_ROOT = "babylm_data"
# (folder in the archive, file suffix, where it goes under DIR)
SPLITS = (
    ("babylm_10M", "train", "public/babylm_data/babylm_10M"),
    ("babylm_dev", "dev", "public/babylm_data/babylm_dev"),
    ("babylm_test", "test", "private/babylm_test"),
)
GENERATED_SEED = 20_230_522
GENERATED_LINES = {"train": 150, "dev": 30, "test": 30}  # per domain


def expected_members() -> list[tuple[str, Path]]:
    """(path inside babylm_data/, destination relative to DIR) of the 30 files used."""
    return [
        (f"{folder}/{domain}.{suffix}", Path(destination) / f"{domain}.{suffix}")
        for folder, suffix, destination in SPLITS
        for domain in DOMAINS
    ]


def zip_reader(archive: Path, prefix: str) -> Callable[[str], bytes]:
    """A function reading `prefix + member` from the zip file `archive`."""

    def read(member: str) -> bytes:
        with zipfile.ZipFile(archive) as zipped:
            try:
                return zipped.read(prefix + member)
            except KeyError:
                raise FileNotFoundError(member) from None

    return read


def find_reader(raw: Path) -> Callable[[str], bytes]:
    """A function reading a file of babylm_data/ from RAW's folder or from a zip in RAW."""
    for base in (raw / ARCHIVE_ROOT, raw):
        if (base / "babylm_10M").is_dir():
            return lambda member: (base / member).read_bytes()
    for archive in sorted(raw.glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            names = [
                name
                for name in zipped.namelist()
                if "babylm_10M/" in name and not name.startswith("__MACOSX/")
            ]
        if names:  # the folder above babylm_10M/ inside the archive, usually "babylm_data/"
            return zip_reader(archive, min((n.split("babylm_10M/")[0] for n in names), key=len))
    raise PrepareError(f"no babylm_data/babylm_10M in {raw} (nor in a zip file there)")


def prepare_raw(raw: Path, out: Path) -> None:
    """Copy the training, development and test files of RAW into DIR, unchanged."""
    read = find_reader(raw)
    for member, destination in expected_members():
        try:
            content = read(member)
        except FileNotFoundError:
            raise PrepareError(f"{ARCHIVE_ROOT}/{member} is missing from the download") from None
        if not content.strip():
            raise PrepareError(f"{ARCHIVE_ROOT}/{member} is empty")
        path = out / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


# --- --generated ---------------------------------------------------------------------------

CORE_NOUNS = ("dog", "cat", "ball", "house", "tree", "book", "car", "bird", "boy", "girl")
CORE_VERBS = ("sees", "likes", "finds", "takes", "wants", "has", "makes", "gets")
ADJECTIVES = ("big", "small", "red", "old", "new", "happy", "little", "green")
PREPOSITIONS = ("in", "on", "near", "under", "with")
DETERMINERS = ("the", "a", "my", "this", "that")
# Per domain: extra nouns, extra verbs, sentences per line (low, high), words of a noun
# phrase's adjectives at most, and how a line is dressed.
STYLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int], int, str]] = {
    "aochildes": (("doggy", "cup", "mommy", "juice"), ("wants", "drops"), (1, 1), 0, "plain"),
    "bnc_spoken": (("pub", "telly", "kettle", "mate"), ("reckons", "fancies"), (1, 2), 1, "plain"),
    "cbt": (("king", "wolf", "forest", "queen"), ("called", "followed"), (2, 3), 1, "plain"),
    "children_stories": (
        ("princess", "dragon", "castle", "fairy"),
        ("saved", "visited"),
        (2, 3),
        2,
        "plain",
    ),
    "gutenberg": (("gentleman", "carriage", "letter"), ("beheld", "perceived"), (2, 4), 2, "plain"),
    "open_subtitles": (("gun", "phone", "money", "boss"), ("needs", "hates"), (1, 2), 1, "dash"),
    "qed": (("equation", "cell", "energy", "graph"), ("explains", "shows"), (1, 3), 1, "plain"),
    "simple_wikipedia": (
        ("city", "river", "country", "album"),
        ("contains", "borders"),
        (2, 3),
        1,
        "title",
    ),
    "switchboard": (("job", "weather", "kids", "car"), ("guess", "think"), (1, 2), 0, "speaker"),
    "wikipedia": (
        ("province", "species", "railway", "election"),
        ("includes", "hosted"),
        (3, 5),
        2,
        "title",
    ),
}


def pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    """One word of `words`, uniformly."""
    return words[int(rng.integers(0, len(words)))]


def noun_phrase(rng: np.random.Generator, nouns: tuple[str, ...], max_adjectives: int) -> str:
    """Determiner, up to `max_adjectives` adjectives, noun."""
    adjectives = [pick(rng, ADJECTIVES) for _ in range(int(rng.integers(0, max_adjectives + 1)))]
    return " ".join([pick(rng, DETERMINERS), *adjectives, pick(rng, nouns)])


def sentence(rng: np.random.Generator, domain: str) -> str:
    """One sentence of the toy grammar: NP verb NP, sometimes a prepositional phrase."""
    extra_nouns, extra_verbs, _, max_adjectives, _ = STYLES[domain]
    nouns, verbs = CORE_NOUNS + extra_nouns * 2, CORE_VERBS + extra_verbs * 2
    words = [
        noun_phrase(rng, nouns, max_adjectives),
        pick(rng, verbs),
        noun_phrase(rng, nouns, max_adjectives),
    ]
    if rng.random() < 0.4:
        words += [pick(rng, PREPOSITIONS), noun_phrase(rng, nouns, max_adjectives)]
    text = " ".join(words)
    ending = " ?" if domain in ("aochildes", "switchboard") and rng.random() < 0.3 else " ."
    return text[0].upper() + text[1:] + ending


def line(rng: np.random.Generator, domain: str, number: int) -> str:
    """One line of a domain's file, dressed in the domain's format."""
    low, high = STYLES[domain][2]
    text = " ".join(sentence(rng, domain) for _ in range(int(rng.integers(low, high + 1))))
    dress = STYLES[domain][4]
    if dress == "speaker":
        return f"{'AB'[number % 2]}:\t{text}"
    if dress == "dash" and rng.random() < 0.5:
        return f"- {text}"
    if dress == "title" and rng.random() < 0.15:
        return f"= = = {pick(rng, STYLES[domain][0]).title()} = = ="
    return text


def generated_corpus(seed: int = GENERATED_SEED) -> dict[Path, str]:
    """Destination (relative to DIR) -> text of every generated file."""
    rng = np.random.default_rng(seed)
    files = {}
    for member, destination in expected_members():
        domain, suffix = Path(member).name.split(".")
        lines = [line(rng, domain, number) for number in range(GENERATED_LINES[suffix])]
        files[destination] = "\n".join(lines) + "\n"
    return files


def prepare_generated(out: Path) -> None:
    """Write the synthetic corpus in the real layout."""
    for destination, text in generated_corpus().items():
        path = out / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
