"""protocols domain."""
