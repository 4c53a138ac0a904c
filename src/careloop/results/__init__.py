"""Tracked test results: orders followed until the result is reviewed and communicated to the patient."""
