"""datasets feature."""
