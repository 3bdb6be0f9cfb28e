"""trust feature."""
