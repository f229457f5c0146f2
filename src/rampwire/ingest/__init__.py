"""Ingest's pure parts: sources (a provider's credentials and options) and the inbound log's
records, outcomes and de-duplication key. The pipeline that verifies, logs and applies a
request is :mod:`rampwire.services.ingestor`."""
