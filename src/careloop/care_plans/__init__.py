"""care plans domain."""
