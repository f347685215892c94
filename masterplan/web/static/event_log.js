// The run's event log: newest at the bottom, the last MAX_ENTRIES kept, one line of summary per event.

import { clip, clock, count, duration, element, percent, usd } from "./format.js";

const MAX_ENTRIES = 400;

function tokens(data) {
  const parts = [
    `in ${count(data.input_tokens)}`,
    `cache write ${count(data.cache_write_tokens)}`,
    `cache read ${count(data.cache_read_tokens)}`,
    `out ${count(data.output_tokens)}`,
  ];
  return parts.join(" · ");
}

/** "$0.2504 ($0.1914–$0.3975), 3.2 min" from a forecast's totals (plan.forecast and the events that carry one). */
function forecastText(forecast) {
  if (!forecast?.cost) {
    return "no forecast";
  }
  const { low_usd: low, expected_usd: expected, high_usd: high } = forecast.cost;
  const over = forecast.budget?.exceeded ? `; over budget by ${usd(forecast.budget.over_by_usd)}` : "";
  const seconds = Number(forecast.wall_time?.seconds);
  const time = Number.isFinite(seconds) ? `, about ${duration(seconds)}` : "";
  return `${usd(expected)} (${usd(low)}–${usd(high)})${time}${over}`;
}

const SUMMARIES = {
  "run.created": (d) => clip(d.request, 120),
  "run.status": (d) => `${d.from ?? "?"} → ${d.status}${d.error ? `: ${clip(d.error, 160)}` : ""}`,
  "discovery.questions": (d) => `${(d.questions ?? []).length} questions`,
  "discovery.assumptions": (d) => `${Object.keys(d.answers ?? {}).length} answers assumed`,
  "discovery.answers": (d) => `${Object.keys(d.answers ?? {}).length} answers`,
  "discovery.completed": (d) => `${d.project_name ?? ""}: ${(d.entities ?? []).length} entities`,
  "plan.completed": (d) => `${d.tasks} tasks in ${(d.phases ?? []).length} phases`,
  "plan.forecast": (d) => forecastText(d),
  "plan.edited": (d) => `by ${d.by}: ${d.tasks} tasks; ${forecastText(d.new_forecast)}`,
  "plan.replan_requested": (d) => `by ${d.by}: ${clip(d.feedback, 160)}`,
  "plan.replanned": (d) => `${d.tasks} tasks; ${clip(d.feedback, 120)}`,
  "plan.replan_failed": (d) => clip((d.problems ?? []).join("; "), 160),
  "plan.approved": (d) => `by ${d.by}: ${d.tasks} tasks; ${forecastText(d.forecast)}`,
  "forecast.compared": (d) =>
    `actual ${usd(d.cost?.actual_usd)} against ${usd(d.cost?.expected_usd)} forecast ` +
    `(${d.cost?.position} the range)${d.counted ? "" : ", run stopped early"}`,
  "task.started": (d) => `${d.task_id} ${clip(d.title, 80)}`,
  "task.completed": (d) => `${d.task_id} by ${d.model} in ${d.attempts} attempt(s), ${usd(d.cost_usd)}`,
  "task.failed": (d) => `${d.task_id} after ${d.attempts} attempt(s): ${clip(d.cause, 160)}`,
  "task.answer_rejected": (d) => `${d.task_id} answer rejected, asked again: ${clip(d.cause, 160)}`,
  "task.invalid_output": (d) => `${d.task_id} no usable answer (${d.outcome}): ${clip(d.cause, 160)}`,
  "task.retry": (d) => `${d.task_id} attempt ${d.attempt}: ${clip(d.cause, 160)}`,
  "task.attempt_failed": (d) => `${d.task_id} attempt ${d.attempt}: ${clip(d.cause, 160)}`,
  "task.skipped": (d) => `${d.task_id}: ${clip(d.reason, 160)}`,
  "llm.call": (d) =>
    `${d.phase}${d.task_id ? ` ${d.task_id}` : ""} ${d.model} ${d.outcome} · ${tokens(d)} · ` +
    `${usd(d.cost_usd)} · cache read ${percent(d.cache_read_share)}`,
  "task.committed": (d) =>
    `${d.task_id} commit ${String(d.commit ?? "").slice(0, 12)}${d.recovered ? " (recovered after a restart)" : ""}`,
  "qa.unreviewed": (d) => `${d.task_id} completed without review: ${clip(d.cause, 160)}`,
  "phase.summarized": (d) => `${d.phase}: ${clip(d.summary, 160)}`,
  "check.final": (d) => `${d.passed ? "passed" : "failed"}: ${clip(d.command, 120)}`,
  "documents.rendered": (d) => (d.names ?? []).join(", "),
  "cache.prefix_too_short": (d) =>
    `${d.model} ${d.block}: ${count(d.prefix_tokens)}-token prefix under the ${count(d.minimum_tokens)} minimum, not cached`,
  "learnings.retrieved": (d) => `${d.count} learnings from earlier runs`,
  "budget.warning": (d) => `spent ${usd(d.spent_usd)} of ${usd(d.budget_usd, 2)}`,
};

function summary(event) {
  const data = event.data ?? {};
  const describe = SUMMARIES[event.type];
  if (describe) {
    return describe(data);
  }
  const text = JSON.stringify(data);
  return text === "{}" ? "" : clip(text, 200);
}

export class EventLog {
  constructor(list) {
    this.list = list;
  }

  clear() {
    this.list.replaceChildren();
  }

  add(event) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
    const entry = element(
      "li",
      { "data-seq": event.seq, "data-type": event.type },
      element("span", { class: "seq" }, `#${event.seq}`),
      element("time", { datetime: event.ts }, clock(event.ts)),
      element("span", { class: "type" }, event.type),
      element("span", { class: "summary" }, summary(event)),
    );
    this.list.append(entry);
    while (this.list.childElementCount > MAX_ENTRIES) {
      this.list.firstElementChild.remove();
    }
    if (atBottom) {
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  /** A line that is not a run event (a message of the server, a reconnect). */
  note(text) {
    this.list.append(element("li", { class: "note" }, element("span", { class: "summary" }, text)));
    while (this.list.childElementCount > MAX_ENTRIES) {
      this.list.firstElementChild.remove();
    }
  }
}
