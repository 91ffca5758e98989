# nlp: language tasks (tokenizers, transformers, datasets, evaluation).
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
])
