"""Medications domain."""
