"""matrix_profile feature."""
