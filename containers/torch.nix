# torch: deep learning on images and text with PyTorch and the Hugging Face libraries.
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv (lib.basePackages ++ [
  "torch"
  "torchvision"
  "transformers"
  "datasets"
  "accelerate"
])
