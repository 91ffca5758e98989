# The Python packages this project packages itself, added to every Python package set of
# nixpkgs (flake.nix applies this overlay): the families then list them by name like any
# other package.
final: prev: {
  pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
    (pyfinal: pyprev: {
      lm-eval = pyfinal.callPackage ./lm-eval.nix { };
    })
  ];
}
