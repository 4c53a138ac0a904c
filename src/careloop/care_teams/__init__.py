"""care teams domain."""
