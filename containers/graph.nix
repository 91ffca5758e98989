# graph: graph neural networks (PyTorch Geometric, the OGB datasets and evaluators).
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv (lib.basePackages ++ [
  "torch"
  "torch-geometric"
  "ogb"
])
