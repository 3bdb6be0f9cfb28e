"""openmetadata feature."""
