"""Prompt caching: request layout with stable prefixes, TTL choice, and what caching saved."""

from masterplan.cache.context import ProjectContext, RunCacheContext
from masterplan.cache.layout import canonical_json, schema_for, tagged
from masterplan.cache.ledger import CacheFigures, CacheLedger
from masterplan.cache.manager import PromptCacheManager
from masterplan.cache.ttl import TTLHint, choose_ttl

__all__ = [
    "CacheFigures",
    "CacheLedger",
    "ProjectContext",
    "PromptCacheManager",
    "RunCacheContext",
    "TTLHint",
    "canonical_json",
    "choose_ttl",
    "schema_for",
    "tagged",
]
