"""FHIR R4 REST API: read and search over CareLoop data, resources validated against R4B models."""
