"""HL7 v2 ADT feed: MLLP listener, lean parser, ADT apply, ACKs, review queue and dead letters."""
