"""Small helpers shared by several features (they import no feature)."""
