"""Worker jobs."""
