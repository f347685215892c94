// The selected run's header, totals and discovery-questions form, drawn from GET /runs/{id}.

import { count, element, percent, usd } from "./format.js";

export const TERMINAL = new Set(["completed", "completed_with_failures", "failed", "cancelled", "budget_exceeded"]);
const TOKEN_KINDS = ["input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"];

const byId = (id) => document.getElementById(id);

/** "$0.0990 forecast, +5.3% (inside the range)" once the run has ended, from GET /runs/{id}. */
function forecastVersusActual(compared) {
  const cost = compared?.cost;
  if (!cost) {
    return "–";
  }
  const error = cost.error == null ? "" : `, ${cost.error >= 0 ? "+" : ""}${(cost.error * 100).toFixed(1)}%`;
  const counted = compared.counted ? "" : "; the run stopped early";
  return `${usd(cost.expected_usd)} forecast${error} (${cost.position} the range${counted})`;
}

export class RunPanel {
  constructor() {
    this.totals = byId("totals");
    this.questions = byId("questions");
    this.answerForm = byId("answer-form");
    this.questionIds = "";
  }

  clear(runId) {
    byId("run-id").textContent = runId;
    for (const id of ["run-request", "run-workspace", "run-error", "run-status", "answer-error"]) {
      byId(id).textContent = "";
    }
    this.questions.hidden = true;
    this.answerForm.replaceChildren();
    this.questionIds = "";
  }

  show(run) {
    byId("run-request").textContent = run.request;
    byId("run-workspace").textContent = run.workspace ?? "";
    byId("run-error").textContent = run.error ?? "";
    const status = byId("run-status");
    status.textContent = run.status.replaceAll("_", " ");
    status.dataset.status = run.status;
    byId("cancel-run").hidden = TERMINAL.has(run.status);
    this.showTotals(run);
    this.showQuestions(run);
  }

  showTotals(run) {
    const set = (name, text) => {
      this.totals.querySelector(`[data-total="${name}"]`).textContent = text;
    };
    // Calls whose usage is unknown (cut off by a stop of the service) count at their worst case.
    const reserved = Number(run.reserved_usd ?? 0);
    set("cost", usd(run.cost_usd) + (reserved > 0 ? ` + ${usd(reserved)} unknown (worst case)` : ""));
    set("budget", run.budget_usd == null ? "–" : usd(run.budget_usd, 2));
    set("cache-read-share", percent(run.cache_read_share ?? 0));
    for (const kind of TOKEN_KINDS) {
      set(kind, count(run.usage?.[kind] ?? 0));
    }
    set("forecast", forecastVersusActual(run.forecast_vs_actual));
  }

  /** Tasks done and the progress bar, from the live task table's counts. */
  showProgress({ total, completed, failed, skipped }) {
    const text = `${completed} / ${total}${failed ? ` (${failed} failed)` : ""}`;
    this.totals.querySelector('[data-total="tasks"]').textContent = text;
    const ended = completed + failed + skipped;
    byId("progress-bar").style.width = total ? `${(100 * ended) / total}%` : "0";
  }

  showQuestions(run) {
    const waiting = run.status === "awaiting_answers" && (run.questions ?? []).length > 0;
    this.questions.hidden = !waiting;
    if (!waiting) {
      return;
    }
    const ids = run.questions.map((question) => question.id).join("\n");
    if (ids === this.questionIds) {
      return;
    }
    this.questionIds = ids;
    const fields = run.questions.map((question, index) => {
      const fieldId = `answer-${index}`;
      return element(
        "div",
        { class: "question" },
        element("label", { for: fieldId }, question.question),
        question.why ? element("p", { class: "muted" }, question.why) : "",
        element("textarea", {
          id: fieldId,
          name: question.id,
          rows: 2,
          "data-question-id": question.id,
          placeholder: question.default_assumption || "no preference",
        }),
      );
    });
    this.answerForm.replaceChildren(...fields, element("button", { type: "submit" }, "Send answers"));
  }

  /** The answers typed so far, blank ones left out (the run then keeps the suggested assumption). */
  answers() {
    const answers = {};
    for (const field of this.answerForm.querySelectorAll("textarea[data-question-id]")) {
      if (field.value.trim()) {
        answers[field.dataset.questionId] = field.value.trim();
      }
    }
    return answers;
  }
}
