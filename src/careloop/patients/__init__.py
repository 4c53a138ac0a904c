"""patients domain."""
