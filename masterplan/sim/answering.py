"""What the model does with a valid request, wherever it came from: ``/v1/messages`` or a message batch.

Both paths count the request by role and task, compose the answer (a continuation goes on with the
whole answer it continues), and give it the Messages API's message object; they differ in how the
answer travels (HTTP, or a batch's results) and so in which faults apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from masterplan.sim.compose import Answer, compose_answer, compose_continuation
from masterplan.sim.faults import FaultDraw
from masterplan.sim.prompt_cache import CachePlan
from masterplan.sim.request import MessagesRequest
from masterplan.sim.roles import Role, recognise_role, task_id_of

if TYPE_CHECKING:
    from masterplan.sim.state import SimState


def count_request(state: SimState, parsed: MessagesRequest) -> Role:
    """Count a request the model sees by its role (and its task's id); returns the role."""
    role = recognise_role(parsed.system_text, parsed.user_text)
    state.stats.requests_by_role[role] += 1
    task_id = task_id_of(parsed.user_text) if role == "task_execution" else None
    if task_id is not None:
        state.stats.requests_by_task[task_id] += 1
    return role


def compose(state: SimState, role: Role, parsed: MessagesRequest, draw: FaultDraw) -> Answer:
    """The answer; a continuation's whole answer has the content faults of the one it continues (``continuation``).

    The caller counts the answer's faults, where its path counts them.
    """
    rewrites = state.config.edit_style == "rewrite"
    if parsed.continuation is not None:
        whole_draw = state.cut_answers.whole_answer_draw(parsed.conversation_key)
        return compose_continuation(role, parsed, whole_draw, draw, state.config.seed, rewrites=rewrites)
    answer = compose_answer(role, parsed, draw, state.config.seed, rewrites=rewrites)
    if answer.stop_reason == "max_tokens":
        state.cut_answers.remember(parsed.conversation_key, draw)
    return answer


def record_tokens(state: SimState, plan: CachePlan, answer: Answer, *, in_batch: bool = False) -> None:
    state.stats.record_tokens(
        input_tokens=plan.uncached_tokens,
        cache_write=plan.write_tokens,
        cache_read=plan.read_tokens,
        output=answer.output_tokens,
        in_batch=in_batch,
    )


def message_object(
    message_id: str, parsed: MessagesRequest, plan: CachePlan, answer: Answer, *, service_tier: str = "standard"
) -> dict[str, Any]:
    """The Message the non-streaming Messages API answers (``service_tier`` "batch" in a batch's results)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": parsed.model,
        "content": [{"type": "text", "text": answer.text}],
        "stop_reason": answer.stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": plan.uncached_tokens,
            "cache_creation_input_tokens": plan.write_tokens,
            "cache_read_input_tokens": plan.read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": plan.write_5m_tokens,
                "ephemeral_1h_input_tokens": plan.write_1h_tokens,
            },
            "output_tokens": answer.output_tokens,
            "service_tier": service_tier,
        },
    }
