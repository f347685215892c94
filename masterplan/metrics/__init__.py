"""Prometheus metric definitions; each set registers into the registry it is given."""

from masterplan.metrics.llm import LLMMetrics

__all__ = ["LLMMetrics"]
