{
  description = "mlab-hpc: the harness's dev shell, and one Python environment and image per task family";

  # flake.lock pins this input; it has to be created on a machine that can reach GitHub
  # (`nix flake lock`), see docs/containers.md
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        config.allowUnfree = true; # CUDA builds of torch and jaxlib
        # python3Packages.lm-eval at the version the MLRB graders pin (containers/lm-eval.nix)
        overlays = [ (import ./containers/overlay.nix) ];
      };
      lib = nixpkgs.lib;
      containers = import ./containers/lib.nix { inherit pkgs; };

      # the task families (taskspec.ENVIRONMENTS); each has containers/<family>.nix
      families = [ "base" "torch" "graph" "nlp" "rl" "jax" ];
      envs = lib.genAttrs families (family: import (./containers + "/${family}.nix") { inherit pkgs; });
      images = lib.mapAttrs' (family: env: lib.nameValuePair "${family}-image" (containers.image family env)) envs;
    in
    {
      # nix build .#torch (the environment) or .#torch-image (the Docker archive)
      packages.${system} = envs // images // { default = envs.base; };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          (pkgs.python3.withPackages (ps: with ps; [ click duckdb pyarrow pytest mypy ]))
          pkgs.ruff
          pkgs.bubblewrap
          pkgs.apptainer
        ];
        shellHook = ''
          pip_prefix=$PWD/.nix-venv
          [ -d "$pip_prefix" ] || python -m venv --system-site-packages "$pip_prefix"
          . "$pip_prefix/bin/activate"
          pip install -q --no-deps -e .
        '';
      };
    };
}
