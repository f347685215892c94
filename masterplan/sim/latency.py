"""How long an answer takes: time to first token plus output tokens at the model's speed, scaled."""

from __future__ import annotations

from dataclasses import dataclass

from masterplan.sim.model_table import ModelSpec


@dataclass(frozen=True)
class LatencyModel:
    factor: float
    """0 answers at once; 1 is the realistic default."""

    def first_token_s(self, spec: ModelSpec) -> float:
        return self.factor * spec.ttft_s

    def generation_s(self, spec: ModelSpec, output_tokens: int) -> float:
        return self.factor * output_tokens / spec.tokens_per_second

    def total_s(self, spec: ModelSpec, output_tokens: int) -> float:
        return self.first_token_s(spec) + self.generation_s(spec, output_tokens)
