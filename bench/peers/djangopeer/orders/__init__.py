"""The peer's one model."""
