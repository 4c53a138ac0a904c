"""Standards at the edges: HL7 v2 (and later FHIR) mapped onto CareLoop services."""
