# Shared by the per-family definitions: the Python packages every family has, a checked lookup
# of nixpkgs attribute names, and the step from a Python environment to a layered image.
{ pkgs }:
let
  python = pkgs.python3;

  # a missing package fails the evaluation with its name, instead of leaving it out silently
  need = ps: name:
    ps.${name} or (throw "nixpkgs has no python3Packages.${name}: pin a nixpkgs that has it, or package it under containers/");
in
rec {
  inherit python;

  # the base family's packages, which every other family includes
  basePackages = [ "numpy" "pandas" "scipy" "scikit-learn" "xgboost" "matplotlib" "tqdm" ];

  # one Python environment from a list of python3Packages attribute names
  pythonEnv = names: python.withPackages (ps: map (need ps) names);

  # the image a family's commands run in: the environment, a shell and the core utilities,
  # as a Docker archive that `apptainer build x.sif docker-archive://<archive>` converts
  image = family: env: pkgs.dockerTools.buildLayeredImage {
    name = "mlab-hpc-${family}";
    tag = "latest";
    contents = [ env pkgs.bashInteractive pkgs.coreutils pkgs.cacert ];
    config = {
      Env = [
        "PATH=/bin"
        "LANG=C.UTF-8"
        "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
      ];
      WorkingDir = "/tmp";
    };
  };
}
