"""The store's side of a batch-mode run's Message Batches (``masterplan.llm.batching.BatchLedger``)."""

from __future__ import annotations

from collections.abc import Sequence

from masterplan.executor.journal import Journal
from masterplan.models import BatchedCall, BatchRecord


class JournalBatchLedger:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    async def find(self, run_id: str, custom_id: str) -> BatchedCall | None:
        async with self._journal.read() as tx:
            return await tx.find_batched_call(run_id, custom_id)

    async def created(self, batch: BatchRecord, call_ids: Sequence[int]) -> None:
        """Committed with the run's writes queued before it, and the batch's event."""
        async with self._journal.write() as tx:
            await tx.record_batch(batch, call_ids)
            await tx.append_event(batch.run_id, "batch.created", {"batch_id": batch.id, "requests": batch.requests})

    async def ended(self, run_id: str, batch_id: str) -> bool:
        async with self._journal.write() as tx:
            if not await tx.end_batch(batch_id):
                return False
            await tx.append_event(run_id, "batch.ended", {"batch_id": batch_id})
        return True
