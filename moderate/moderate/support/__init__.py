"""Small helpers shared by more than one feature; they import no feature."""
