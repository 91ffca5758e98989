# rl: reinforcement learning (Gymnasium with MuJoCo, Box2D and the Arcade Learning Environment).
{ pkgs }:
let lib = import ./lib.nix { inherit pkgs; };
in lib.pythonEnv (lib.basePackages ++ [
  "torch"
  "gymnasium"
  "mujoco"
  "box2d-py"
  "ale-py"
])
