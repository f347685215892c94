"""The LLM gateway: every LLM call masterplan makes goes through ``LLMGateway.complete``."""

from masterplan.llm.attempt import AnswerWatcher
from masterplan.llm.budget import BudgetExceeded, BudgetHold, RunBudget
from masterplan.llm.clock import Clock, ManualClock, SystemClock
from masterplan.llm.errors import GatewayConfigError, LLMCallFailed, LLMRequestRejected, LLMUnavailable
from masterplan.llm.gateway import CallRecorder, CallStarter, LLMGateway, limiter_for_settings
from masterplan.llm.observer import GatewayObserver, ObserverGroup, ShortCacheBreakpoint
from masterplan.llm.parser import LLMResponseParser, Parsed, ParseFailure, ParseIssue
from masterplan.llm.pricing import ModelPrice, PriceTable, UnknownModel
from masterplan.llm.ratelimit import RateLimiter, RateLimits, RatePool
from masterplan.llm.request import LLMRequest, PromptBlock, RequestLayoutError
from masterplan.llm.result import CallContext, LLMResult
from masterplan.llm.routing import model_class_for, select_model, validate_configured_models
from masterplan.llm.usage import TokenUsage

__all__ = [
    "AnswerWatcher",
    "BudgetExceeded",
    "BudgetHold",
    "CallContext",
    "CallRecorder",
    "CallStarter",
    "Clock",
    "GatewayConfigError",
    "GatewayObserver",
    "LLMCallFailed",
    "LLMGateway",
    "LLMRequest",
    "LLMRequestRejected",
    "LLMResponseParser",
    "LLMResult",
    "LLMUnavailable",
    "ManualClock",
    "ModelPrice",
    "ObserverGroup",
    "ParseFailure",
    "ParseIssue",
    "Parsed",
    "PriceTable",
    "PromptBlock",
    "RateLimiter",
    "RateLimits",
    "RatePool",
    "RequestLayoutError",
    "RunBudget",
    "ShortCacheBreakpoint",
    "SystemClock",
    "TokenUsage",
    "UnknownModel",
    "limiter_for_settings",
    "model_class_for",
    "select_model",
    "validate_configured_models",
]
