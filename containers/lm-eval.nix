# lm-eval-harness (PyPI: lm_eval) at the version the ML Research Benchmark graders pin
# (pyproject.toml, extra "mlrb": lm_eval[hf]==0.4.13), packaged here so that the nlp family
# does not depend on whichever version a nixpkgs revision carries. Added to python3Packages
# by containers/overlay.nix; the nlp family lists it as "lm-eval".
#
# The source hash is not known on this machine (no internet): `hash` is lib.fakeHash, so the
# first `nix build .#nlp` fails with "hash mismatch ... got: sha256-..."; check that the
# download is the release on PyPI, then write the printed hash here (docs/containers.md).
{ lib, buildPythonPackage, fetchPypi, setuptools
, datasets, dill, evaluate, jinja2, jsonlines, more-itertools, numpy, pytablewriter
, rouge-score, sacrebleu, scikit-learn, sqlitedict, tqdm, typing-extensions, zstandard
, accelerate, peft, torch, transformers
}:

buildPythonPackage rec {
  pname = "lm_eval";
  version = "0.4.13";
  pyproject = true;

  src = fetchPypi {
    inherit pname version;
    hash = lib.fakeHash; # to be recorded on the first build (see above)
  };

  build-system = [ setuptools ];

  # the core requirements and the "hf" extra (HFLM: transformers, torch, accelerate, peft)
  dependencies = [
    datasets dill evaluate jinja2 jsonlines more-itertools numpy pytablewriter rouge-score
    sacrebleu scikit-learn sqlitedict tqdm typing-extensions zstandard
    accelerate peft torch transformers
  ];

  # word2number only serves the math-answer tasks, which our graders do not run; nixpkgs
  # revisions without it still build
  pythonRemoveDeps = [ "word2number" ];
  pythonRelaxDeps = [ "datasets" ];

  # the test suite downloads models and datasets: the import is the check
  doCheck = false;
  pythonImportsCheck = [ "lm_eval" "lm_eval.models.huggingface" ];

  meta = {
    description = "lm-evaluation-harness, the evaluator of the ML Research Benchmark graders";
    homepage = "https://github.com/EleutherAI/lm-evaluation-harness";
    license = lib.licenses.mit;
  };
}
