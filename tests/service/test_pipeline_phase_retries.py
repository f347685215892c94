"""A phase whose answer cannot be parsed is asked again (phases.toml ``retries``) before the run fails."""

from __future__ import annotations

from pathlib import Path

from masterplan.models import RunStatus
from masterplan.service.assembly import open_service

from .pipeline_helpers import QUICK_CHECKS, load_record, run_request, service_settings, simulator

SEED = 15
"""Under this seed the very first answer (discovery questions) is malformed JSON."""


async def test_a_malformed_discovery_answer_is_asked_again_before_the_run_fails(
    sqlite_url: str, tmp_path: Path
) -> None:
    faults = "malformed_json=0.1"
    async with (
        simulator(seed=SEED, faults=faults) as sim,
        open_service(service_settings(sim, sqlite_url, tmp_path, structured_outputs=False)) as service,
    ):
        run = await service.wait((await service.create(run_request(3, checks=QUICK_CHECKS))).id)
        record = await load_record(service.store, run.id)

    first = record.calls[0]
    assert (first.phase, first.outcome) == ("discovery_questions", "parse_error")  # the seed's premise
    asked = [call for call in record.calls if call.phase == "discovery_questions"]
    assert len(asked) == 2, f"one malformed answer ended the run: {run.error}"
    assert asked[1].outcome == "ok"
    assert run.status is RunStatus.COMPLETED, run.error
