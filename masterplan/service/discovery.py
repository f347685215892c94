"""Discovery in three passes: questions, answers (the user's or the model's assumptions), the domain model.

Each pass stores what it produced before the next begins, so a resumed run
picks up at the first pass that has no stored result. Without ``auto_answer``
the run waits in ``awaiting_answers`` holding nothing but its row.
"""

from __future__ import annotations

from masterplan.executor.context import RunContext
from masterplan.executor.tags import canonical_json, json_artifact, tag
from masterplan.models import (
    Artifact,
    DiscoveryAssumptions,
    DiscoveryDocument,
    DiscoveryQuestions,
    RunStatus,
)
from masterplan.service.documents import render_discovery
from masterplan.service.errors import PhaseFailed

DISCOVERY_JSON = "discovery.json"
QUESTIONS_JSON = "discovery_questions.json"


async def stored_discovery(ctx: RunContext) -> DiscoveryDocument | None:
    async with ctx.journal.read() as tx:
        artifact = await tx.get_artifact(ctx.run.id, DISCOVERY_JSON)
    return DiscoveryDocument.model_validate_json(artifact.content) if artifact else None


async def run_discovery(ctx: RunContext) -> DiscoveryDocument | None:
    """The domain model, or None when the run now waits for the user's answers."""
    document = await stored_discovery(ctx)
    if document is not None:
        return document
    if not await _has_questions(ctx):
        await _ask_questions(ctx)
    run = ctx.run
    if run.questions and not run.answers:
        if not run.options.auto_answer:
            async with ctx.journal.write() as tx:
                await tx.transition_run(
                    run.id,
                    RunStatus.AWAITING_ANSWERS,
                    data={"questions": [question.model_dump() for question in run.questions]},
                )
            return None
        await _assume_answers(ctx)
    return await _model_domain(ctx)


async def _has_questions(ctx: RunContext) -> bool:
    async with ctx.journal.read() as tx:
        return await tx.get_artifact(ctx.run.id, QUESTIONS_JSON) is not None


async def _ask_questions(ctx: RunContext) -> None:
    result = await ctx.caller.call_until_valid(
        "discovery_questions", DiscoveryQuestions, tail=tag("request", ctx.run.request)
    )
    if result.value is None:
        raise PhaseFailed(f"discovery questions could not be parsed: {result.error}")
    questions = result.value
    async with ctx.journal.write() as tx:
        await tx.set_discovery(ctx.run.id, questions.questions, {})
        await tx.put_artifact(json_artifact(ctx.run.id, QUESTIONS_JSON, questions))
        await tx.append_event(
            ctx.run.id,
            "discovery.questions",
            {"questions": [q.model_dump() for q in questions.questions], "entities": questions.initial_entities},
        )
    ctx.run = ctx.run.model_copy(update={"questions": questions.questions})


async def _assume_answers(ctx: RunContext) -> None:
    run = ctx.run
    tail = "\n".join([tag("request", run.request), tag("questions", canonical_json(run.questions))])
    result = await ctx.caller.call_until_valid("discovery_assumptions", DiscoveryAssumptions, tail=tail)
    if result.value is None:
        raise PhaseFailed(f"assumed answers could not be parsed: {result.error}")
    known = {question.id for question in run.questions}
    answers = {item.question_id: item.answer for item in result.value.answers if item.question_id in known}
    for question in run.questions:
        answers.setdefault(question.id, question.default_assumption or "no preference; use the conventional choice")
    async with ctx.journal.write() as tx:
        await tx.set_discovery(run.id, run.questions, answers)
        await tx.append_event(
            run.id, "discovery.assumptions", {"answers": answers, "assumptions": result.value.assumptions}
        )
    ctx.run = run.model_copy(update={"answers": answers})


async def _model_domain(ctx: RunContext) -> DiscoveryDocument:
    run = ctx.run
    tail = "\n".join(
        [
            tag("request", run.request),
            tag("questions", canonical_json(run.questions)),
            tag("answers", canonical_json(run.answers)),
        ]
    )
    result = await ctx.caller.call_until_valid("domain_model", DiscoveryDocument, tail=tail)
    if result.value is None:
        raise PhaseFailed(f"the domain model could not be parsed: {result.error}")
    document = result.value
    async with ctx.journal.write() as tx:
        await tx.put_artifact(json_artifact(run.id, DISCOVERY_JSON, document))
        await tx.put_artifact(
            Artifact(
                run_id=run.id,
                name="DISCOVERY.md",
                content=render_discovery(document, run.request, run.questions, run.answers),
            )
        )
        await tx.append_event(
            run.id,
            "discovery.completed",
            {"project_name": document.project_name, "entities": [entity.name for entity in document.entities]},
        )
    return document
