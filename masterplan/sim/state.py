"""Everything one simulator instance keeps, shared by its handlers."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from aiohttp import web

from masterplan.sim.batch_answers import answer_batch_request
from masterplan.sim.batches import BatchStore
from masterplan.sim.clock import SimClock
from masterplan.sim.config import SimConfig
from masterplan.sim.continuation import CutAnswers
from masterplan.sim.faults import FaultInjector
from masterplan.sim.model_table import ModelTable, load_model_table
from masterplan.sim.prompt_cache import PromptCache
from masterplan.sim.rate_limits import RateLimiter
from masterplan.sim.stats import SimStats


@dataclass
class SimState:
    config: SimConfig
    clock: SimClock
    table: ModelTable
    cache: PromptCache
    limiter: RateLimiter
    faults: FaultInjector
    batches: BatchStore
    stats: SimStats = field(default_factory=SimStats)
    cut_answers: CutAnswers = field(default_factory=CutAnswers)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def create(cls, config: SimConfig, clock: SimClock) -> SimState:
        table = load_model_table()
        return cls(
            config=config,
            clock=clock,
            table=table,
            cache=PromptCache(clock),
            limiter=RateLimiter(table, config.tier, clock),
            faults=FaultInjector(config.faults, config.seed),
            batches=BatchStore(config.seed),
        )

    def next_ids(self) -> tuple[str, str]:
        """A (request id, message id) pair, unique within this simulator."""
        n = next(self._ids)
        digest = hashlib.sha256(f"{self.config.seed}:{n}".encode()).hexdigest()
        return f"req_sim{digest[:24]}", f"msg_sim{digest[24:48]}"

    def settle_batches(self) -> None:
        """Answer the message batches whose processing time is over (``batches``: whenever anything looks)."""
        for batch in self.batches.settle_due(self.clock.now(), lambda params: answer_batch_request(self, params)):
            self.stats.batches.ended += 1
            self.stats.batches.requests_by_result.update(result["type"] for result in batch.results)

    def reset(self) -> None:
        """Forget counters, cached prefixes, rate-limit buckets, seen bodies, cut answers and batches."""
        self.stats.reset()
        self.cache.clear()
        self.limiter.reset()
        self.faults.reset()
        self.cut_answers.clear()
        self.batches.clear()


SIM_STATE = web.AppKey("sim_state", SimState)
