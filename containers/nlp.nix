# nlp: language tasks (tokenizers, transformers, datasets, evaluation), and the ML Research
# Benchmark's model graders: lm-eval-harness 0.4.13 (containers/lm-eval.nix, the version the
# "mlrb" extra of pyproject.toml pins) with its Hugging Face backend (peft, accelerate).
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv (lib.basePackages ++ [
  "torch"
  "transformers"
  "tokenizers"
  "sentencepiece"
  "datasets"
  "accelerate"
  "evaluate"
  "safetensors"
  "peft"
  "lm-eval"
])
