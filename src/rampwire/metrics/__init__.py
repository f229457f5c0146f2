"""Prometheus metrics: the meters a process counts with (:mod:`.meters`) and how they are
served (:mod:`.exposition`). A leaf: it knows nothing of rampwire's records."""

from .exposition import PATH, Sampled, authorized, render, serve
from .meters import Metrics
from .partners import PartnerLabels

__all__ = ["PATH", "Metrics", "PartnerLabels", "Sampled", "authorized", "render", "serve"]
