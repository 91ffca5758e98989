# jax: JAX and the DeepMind libraries the CLRS benchmark is written with.
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv (lib.basePackages ++ [
  "jax"
  "jaxlib"
  "dm-haiku"
  "optax"
  "chex"
])
