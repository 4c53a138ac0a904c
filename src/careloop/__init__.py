"""CareLoop: open-source care coordination."""

__version__ = "0.1.0"
