"""Prometheus metrics: the meters a process counts with (:mod:`.meters`) and how they are
served (:mod:`.exposition`). A leaf: it knows nothing of rampwire's records."""

from .exposition import PATH, Sampled, authorized, render, serve
from .meters import Metrics

__all__ = ["PATH", "Metrics", "Sampled", "authorized", "render", "serve"]
