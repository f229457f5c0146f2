"""The chaos suite: rampwire's reliability scenarios against real processes (``make chaos``)."""
