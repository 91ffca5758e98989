"""Data preparation for the parkinsons-disease task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds Kaggle's competition files
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

--raw reads train_clinical_data.csv, train_peptides.csv, train_proteins.csv and (when
present) supplemental_clinical_data.csv from RAW, or from a zip in RAW when the competition
archive was left packed; Kaggle's API files (example_test_files/, amp_pd_peptide/, the
testing utility) are not used. The published split is kept: two patients of the clinical
file are held out, chosen by random.Random(42).sample(the sorted patient ids, 2). Their
visits go to DIR/public/test_clinical_data.csv without the ratings, their peptide and protein
rows to test_peptides.csv and test_proteins.csv; everything else stays in the train files, as
text, unchanged. DIR/private/answer.csv holds prediction_id, rating for every test visit
(patient p, month m), part i and horizon k in 0, 6, 12, 24 whose rating updrs_i at month
m + k is known.

--generated draws 24 patients with visits over up to 5 years, ratings that worsen with time
at a pace of each patient's own (partly visible in a few protein levels), and peptide and
protein files with the real columns. The output is byte-identical on every run.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main, write_csv

HOLD_OUT_SEED, HOLD_OUT_PATIENTS = 42, 2
HORIZONS = (0, 6, 12, 24)
PARTS = ("updrs_1", "updrs_2", "updrs_3", "updrs_4")
CLINICAL = "train_clinical_data.csv"
SUPPLEMENTAL = "supplemental_clinical_data.csv"
PEPTIDES = "train_peptides.csv"
PROTEINS = "train_proteins.csv"
CLINICAL_COLUMNS = (
    "visit_id", "patient_id", "visit_month", *PARTS, "upd23b_clinical_state_on_medication",
)  # fmt: skip
PEPTIDE_COLUMNS = (
    "visit_id",
    "visit_month",
    "patient_id",
    "UniProt",
    "Peptide",
    "PeptideAbundance",
)
PROTEIN_COLUMNS = ("visit_id", "visit_month", "patient_id", "UniProt", "NPX")
GENERATED_SEED = 20_240_603

Table = tuple[list[str], list[list[str]]]


def parse(name: str, text: str, required: Sequence[str]) -> Table:
    """Header and rows of a CSV text; raises PrepareError on missing columns or short rows."""
    table = [row for row in csv.reader(io.StringIO(text)) if row]
    if not table:
        raise PrepareError(f"{name} is empty")
    header, rows = table[0], table[1:]
    missing = [column for column in required if column not in header]
    if missing:
        raise PrepareError(f"{name} has no {', '.join(missing)} column")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise PrepareError(f"{name} line {line} has {len(row)} fields, not {len(header)}")
    return header, rows


def read_raw(raw: Path) -> dict[str, str]:
    """The texts of the competition files this task uses, from RAW or a zip in RAW."""
    wanted = (CLINICAL, SUPPLEMENTAL, PEPTIDES, PROTEINS)
    texts = {name: (raw / name).read_text("utf-8-sig") for name in wanted if (raw / name).is_file()}
    for archive in sorted(raw.glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.namelist():
                name = Path(member).name
                if name in wanted and name not in texts and "/" not in member.strip("/"):
                    texts[name] = zipped.read(member).decode("utf-8-sig")
    for name in (CLINICAL, PEPTIDES, PROTEINS):
        if name not in texts:
            raise PrepareError(f"no {name} in {raw} (nor in a zip file there)")
    return texts


def number(text: str) -> float | None:
    """A rating as a number, or None when it is empty."""
    return None if text.strip() == "" else float(text)


def split(texts: dict[str, str], out: Path) -> None:
    """Write the public train and test files and private/answer.csv under `out`."""
    header, rows = parse(CLINICAL, texts[CLINICAL], CLINICAL_COLUMNS)
    column = {name: header.index(name) for name in CLINICAL_COLUMNS}
    try:
        patients = sorted({int(row[column["patient_id"]]) for row in rows})
        for row in rows:
            int(row[column["visit_month"]])
            for part in PARTS:
                number(row[column[part]])
    except ValueError as error:
        raise PrepareError(f"{CLINICAL}: {error}") from None
    if len(patients) <= HOLD_OUT_PATIENTS:
        raise PrepareError(f"{CLINICAL} has {len(patients)} patients; at least 3 are needed")
    held_out = {str(p) for p in random.Random(HOLD_OUT_SEED).sample(patients, HOLD_OUT_PATIENTS)}

    def is_test(row: list[str], patient_index: int) -> bool:
        return row[patient_index].strip() in held_out

    pid = column["patient_id"]
    public, private = out / "public", out / "private"
    write_csv(public / CLINICAL, header, [row for row in rows if not is_test(row, pid)])
    test_rows = [row for row in rows if is_test(row, pid)]
    kept = [index for index, name in enumerate(header) if name not in PARTS]
    write_csv(
        public / "test_clinical_data.csv",
        [header[index] for index in kept],
        [[row[index] for index in kept] for row in test_rows],
    )
    for name, required, test_name in (
        (PEPTIDES, PEPTIDE_COLUMNS, "test_peptides.csv"),
        (PROTEINS, PROTEIN_COLUMNS, "test_proteins.csv"),
    ):
        table_header, table_rows = parse(name, texts[name], required)
        index = table_header.index("patient_id")
        write_csv(public / name, table_header, [r for r in table_rows if not is_test(r, index)])
        write_csv(public / test_name, table_header, [r for r in table_rows if is_test(r, index)])
    if SUPPLEMENTAL in texts:
        (public / SUPPLEMENTAL).write_text(texts[SUPPLEMENTAL], encoding="utf-8")
    else:
        write_csv(public / SUPPLEMENTAL, CLINICAL_COLUMNS, [])

    ratings: dict[tuple[str, int], list[str]] = {}
    for row in test_rows:
        ratings[(row[pid].strip(), int(row[column["visit_month"]]))] = row
    answers = []
    for patient, month in sorted(ratings, key=lambda key: (int(key[0]), key[1])):
        for part in PARTS:
            for horizon in HORIZONS:
                later = ratings.get((patient, month + horizon))
                if later is not None and number(later[column[part]]) is not None:
                    prediction_id = f"{patient}_{month}_{part}_plus_{horizon}_months"
                    answers.append([prediction_id, later[column[part]].strip()])
    write_csv(private / "answer.csv", ["prediction_id", "rating"], answers)


# --- --generated ---------------------------------------------------------------------------

UNIPROTS = ("O00391", "O00533", "P00450", "P01024", "P02649", "P05067", "P10909", "Q92876")
PEPTIDE_SEQUENCES = ("NEQEQPLGQWHLS", "GNPEPTFSWTK", "IYISGMAPRPSLAK", "LDIDSPPITAR")
VISIT_MONTHS = (0, 3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60)


def generated_texts(seed: int = GENERATED_SEED, n_patients: int = 24) -> dict[str, str]:
    """The texts of synthetic competition files (clinical, supplemental, peptides, proteins)."""
    rng = np.random.default_rng(seed)
    patient_ids = np.sort(rng.choice(np.arange(55, 65_000), size=n_patients, replace=False))
    clinical, peptides, proteins = [], [], []
    for patient in patient_ids:
        pace = rng.gamma(2.0, 0.5)  # how fast this patient worsens, a month scale below
        base = rng.uniform([2, 2, 10, 0], [9, 9, 30, 4])
        n_visits = int(rng.integers(4, 11))
        months = [0, *sorted(rng.choice(VISIT_MONTHS[1:], n_visits - 1, replace=False))]
        medication = rng.random() < 0.5
        protein_level = 1e5 * (1 + 0.3 * pace) * rng.uniform(0.8, 1.2, len(UNIPROTS))
        for month in months:
            visit_id = f"{patient}_{month}"
            trend = pace * month / 12
            scores = base + trend * np.array([0.8, 1.0, 2.5, 0.3]) + rng.normal(0, 1.5, 4)
            scores = np.maximum(np.round(scores), 0).astype(int)
            rated = [str(s) for s in scores]
            if rng.random() < 0.5:
                rated[3] = ""  # part 4 is often not rated
            if rng.random() < 0.05:
                rated[0] = ""
            state = ("On" if medication else "Off") if month >= 12 and rng.random() < 0.7 else ""
            clinical.append([visit_id, str(patient), str(month), *rated, state])
            if month in (0, 6, 12, 24) and rng.random() < 0.8:
                for index, uniprot in enumerate(UNIPROTS):
                    npx = protein_level[index] * (1 + 0.02 * trend) * rng.lognormal(0, 0.1)
                    proteins.append([visit_id, str(month), str(patient), uniprot, f"{npx:.1f}"])
                    sequence = PEPTIDE_SEQUENCES[index % len(PEPTIDE_SEQUENCES)]
                    amount = npx * rng.uniform(0.2, 0.6)
                    peptides.append(
                        [visit_id, str(month), str(patient), uniprot, sequence, f"{amount:.2f}"]
                    )

    def text(header: Sequence[str], rows: list[list[str]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()

    return {
        CLINICAL: text(CLINICAL_COLUMNS, clinical),
        SUPPLEMENTAL: text(CLINICAL_COLUMNS, []),
        PEPTIDES: text(PEPTIDE_COLUMNS, peptides),
        PROTEINS: text(PROTEIN_COLUMNS, proteins),
    }


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=lambda raw, out: split(read_raw(raw), out),
                 generated=lambda out: split(generated_texts(), out))  # fmt: skip
