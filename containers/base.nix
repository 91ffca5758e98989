# base: tabular and classical machine learning.
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv lib.basePackages
