"""Stage implementations: the pluggy registry, the built-in stages, building stages and weights files."""
