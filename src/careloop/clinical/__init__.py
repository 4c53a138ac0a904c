"""clinical domain."""
