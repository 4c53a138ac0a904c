"""Transitions of care: who is in hospital now, who left recently and how their follow-up is going."""
