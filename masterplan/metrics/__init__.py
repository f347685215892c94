"""Prometheus metric definitions; each set registers into the registry it is given."""

from masterplan.metrics.llm import LLMMetrics
from masterplan.metrics.service import ServiceMetrics

__all__ = ["LLMMetrics", "ServiceMetrics"]
