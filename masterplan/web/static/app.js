// The dashboard: the runs list, the start form, and the selected run followed live over its WebSocket.
//
// The selected run lives in the URL (#run=<id>), so a reload or a shared link shows the same run.

import { api, ApiError, storedToken, storeToken, Unauthorized } from "./api.js";
import { EventLog } from "./event_log.js";
import { clip, element, throttle, usd } from "./format.js";
import { RunPanel, TERMINAL } from "./run_panel.js";
import { EventStream } from "./stream.js";
import { TasksTable } from "./tasks_table.js";
import { PlanPanel } from "./plan_panel.js";
import { CostChart } from "./cost_chart.js";

const RUNS_POLL_MS = 5000;
const REFRESH_MS = 400;
const NORMAL_CLOSE = 1000;
const REFRESHING_EVENTS = new Set(["llm.call", "run.status", "discovery.questions", "budget.warning"]);
const PLAN_EVENTS = new Set(["plan.forecast", "plan.edited", "plan.approved", "run.status"]);
const TASK_STATUSES = { "task.started": "running", "task.completed": "completed", "task.failed": "failed", "task.skipped": "skipped" };
const STREAM_LABELS = { connecting: "connecting…", open: "live", reconnecting: "reconnecting", closed: "offline" };

const byId = (id) => document.getElementById(id);

const table = new TasksTable(byId("tasks"), byId("tasks-empty"));
const log = new EventLog(byId("events"));
const panel = new RunPanel();
const state = { runId: null, stream: null, generation: 0, status: null, cost: 0 };
const chart = new CostChart(byId("cost-chart"));
const plan = new PlanPanel(byId("plan"), {
  edit: (body) => planAction(`/plan`, { method: "PATCH", body }),
  approve: () => planAction(`/approve`, { method: "POST" }),
  replan: (feedback) => planAction(`/replan`, { method: "POST", body: { feedback } }),
});

async function planAction(path, request) {
  const error = byId("plan-error");
  error.textContent = "";
  try {
    await api(`/runs/${encodeURIComponent(state.runId)}${path}`, request);
    refreshRun();
  } catch (failure) {
    if (failure instanceof Unauthorized) {
      askForToken();
    }
    error.textContent = failure.message;
  }
}

async function loadPlan(runId, generation) {
  let view;
  try {
    view = await api(`/runs/${encodeURIComponent(runId)}/plan`);
  } catch (failure) {
    if (!(failure instanceof ApiError && failure.status === 409)) {
      await guarded(() => Promise.reject(failure));
    }
    return; // no plan yet
  }
  if (generation === state.generation) {
    plan.show(view, state.status === "awaiting_approval");
    chart.setForecast(view.forecast);
  }
}

const refreshPlan = throttle(() => loadPlan(state.runId, state.generation), REFRESH_MS);
let shownRuns = "";

function notify(text) {
  byId("notice").textContent = text;
}

function askForToken() {
  const auth = byId("auth");
  const hadToken = Boolean(storedToken());
  if (auth.hidden) {
    auth.hidden = false;
    byId("token").focus();
  }
  notify(hadToken ? "The server refused the token; enter the right one." : "The server requires an access token.");
}

/** Runs an API call; shows what went wrong and resolves to undefined if it failed. */
async function guarded(call) {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken();
    } else if (error instanceof ApiError) {
      notify(error.message);
    } else {
      notify(`The server cannot be reached (${error.message}).`);
    }
    return undefined;
  }
}

// ------------------------------------------------------------------ runs list

function runItem(run) {
  const button = element(
    "button",
    { type: "button", class: "run-item", "aria-current": run.id === state.runId ? "true" : false },
    element("span", { class: "run-request" }, clip(run.request, 90)),
    element(
      "span",
      { class: "run-meta" },
      element("span", { class: "badge", "data-status": run.status }, run.status.replaceAll("_", " ")),
      element("span", {}, usd(run.cost_usd)),
      element("code", {}, run.id),
    ),
  );
  button.addEventListener("click", () => {
    location.hash = `run=${run.id}`;
  });
  return element("li", { "data-run-id": run.id, "data-status": run.status }, button);
}

async function loadRuns() {
  const payload = await guarded(() => api("/runs"));
  if (payload === undefined) {
    return;
  }
  const runs = Array.isArray(payload) ? payload : (payload?.runs ?? []);
  // Redraw only on a change, so a poll does not take the keyboard focus off a run button.
  const shown = JSON.stringify([state.runId, runs.map((run) => [run.id, run.status, run.cost_usd, run.request])]);
  if (shown !== shownRuns) {
    shownRuns = shown;
    byId("runs").replaceChildren(...runs.map(runItem));
  }
  byId("runs-empty").hidden = runs.length > 0;
}

const refreshRuns = throttle(loadRuns, 1000);

// ----------------------------------------------------------------- selected run

function showStreamState(streamState, detail) {
  const badge = byId("stream-status");
  badge.dataset.state = streamState;
  if (streamState === "reconnecting" && detail) {
    badge.textContent = `reconnecting: ${detail}`;
  } else if (streamState === "closed" && TERMINAL.has(byId("run-status").dataset.status)) {
    badge.textContent = "run ended";
  } else {
    badge.textContent = STREAM_LABELS[streamState];
  }
}

async function loadRun(runId, generation) {
  const run = await guarded(() => api(`/runs/${encodeURIComponent(runId)}`));
  if (run && generation === state.generation) {
    panel.show(run);
    const changed = state.status !== run.status;
    state.status = run.status;
    if (changed) {
      refreshPlan();
    }
  }
  return run;
}

async function loadTasks(runId, generation) {
  const payload = await guarded(() => api(`/runs/${encodeURIComponent(runId)}/tasks`));
  if (payload && generation === state.generation) {
    table.load(Array.isArray(payload) ? payload : (payload.tasks ?? []));
    panel.showProgress(table.progress());
  }
}

const refreshRun = throttle(() => loadRun(state.runId, state.generation), REFRESH_MS);

function onEvent(event, generation) {
  if (generation !== state.generation) {
    return;
  }
  log.add(event);
  if (event.type in TASK_STATUSES) {
    plan.setStatus(event.data.task_id, TASK_STATUSES[event.type]);
  }
  if (event.type === "llm.call") {
    state.cost += Number(event.data.cost_usd ?? 0);
    chart.add(event.ts, state.cost);
  }
  if (PLAN_EVENTS.has(event.type)) {
    refreshPlan();
  }
  const touchedTable = table.apply(event);
  if (touchedTable) {
    panel.showProgress(table.progress());
  }
  if (event.type === "plan.completed") {
    loadTasks(state.runId, generation);
  }
  if (touchedTable || REFRESHING_EVENTS.has(event.type)) {
    refreshRun();
  }
  if (event.type === "run.status") {
    refreshRuns();
  }
}

/** Before a reconnect: refresh the run; stay closed if it ended cleanly, is gone, or needs a token. */
async function shouldReconnect(runId, generation, close, stream) {
  if (close.code === 4008) {
    log.note(`The connection fell behind and was dropped; resuming after event #${stream.lastSeq}.`);
  }
  try {
    const run = await api(`/runs/${encodeURIComponent(runId)}`);
    if (generation !== state.generation) {
      return false;
    }
    panel.show(run);
    return !(TERMINAL.has(run.status) && close.code === NORMAL_CLOSE);
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken();
      return false;
    }
    if (error instanceof ApiError && error.status === 404) {
      notify(`Run ${runId} no longer exists.`);
      return false;
    }
    return true;
  }
}

function openStream(runId, generation) {
  const stream = new EventStream(runId, {
    onEvent: (event) => onEvent(event, generation),
    onMessage: (message) => log.note(message?.message ?? message?.error ?? JSON.stringify(message)),
    onState: showStreamState,
    beforeReconnect: (close) => shouldReconnect(runId, generation, close, stream),
  });
  stream.start(0);
  return stream;
}

async function select(runId) {
  state.stream?.stop();
  state.stream = null;
  state.runId = runId;
  const generation = ++state.generation;
  for (const item of byId("runs").querySelectorAll("li[data-run-id] > button")) {
    item.setAttribute("aria-current", String(item.parentElement.dataset.runId === runId));
  }
  byId("run-placeholder").hidden = Boolean(runId);
  byId("run-detail").hidden = !runId;
  if (!runId) {
    return;
  }
  panel.clear(runId);
  plan.clear();
  chart.clear();
  state.status = null;
  state.cost = 0;
  table.clear();
  panel.showProgress(table.progress());
  log.clear();
  const run = await loadRun(runId, generation);
  if (!run || generation !== state.generation) {
    return;
  }
  await loadTasks(runId, generation);
  if (generation === state.generation) {
    state.stream = openStream(runId, generation);
  }
}

function runIdFromHash() {
  const match = location.hash.match(/^#run=([A-Za-z0-9_.-]+)$/);
  return match ? match[1] : null;
}

// ----------------------------------------------------------------------- forms

async function startRun(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = byId("start-error");
  error.textContent = "";
  const body = {
    request: byId("request").value,
    options: {
      tasks: Number(byId("tasks-count").value),
      auto_answer: byId("auto-answer").checked,
      approval: byId("auto-approve").checked ? "auto" : "manual",
    },
  };
  form.querySelector("button[type=submit]").disabled = true;
  try {
    const run = await api("/runs", { method: "POST", body });
    location.hash = `run=${run.id}`;
    await loadRuns();
  } catch (failure) {
    if (failure instanceof Unauthorized) {
      askForToken();
    }
    error.textContent = failure.message;
  } finally {
    form.querySelector("button[type=submit]").disabled = false;
  }
}

async function sendAnswers(event) {
  event.preventDefault();
  const runId = state.runId;
  const error = byId("answer-error");
  error.textContent = "";
  const button = event.currentTarget.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api(`/runs/${encodeURIComponent(runId)}/answers`, { method: "POST", body: { answers: panel.answers() } });
    refreshRun();
  } catch (failure) {
    if (failure instanceof Unauthorized) {
      askForToken();
    }
    error.textContent = failure.message;
  } finally {
    button.disabled = false;
  }
}

async function cancelRun() {
  const runId = state.runId;
  if (runId && window.confirm(`Cancel run ${runId}? Finished tasks are kept.`)) {
    await guarded(() => api(`/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" }));
    refreshRun();
  }
}

function useToken(event) {
  event.preventDefault();
  storeToken(byId("token").value.trim());
  byId("token").value = "";
  byId("auth").hidden = true;
  notify("");
  loadRuns();
  select(state.runId);
}

byId("start-form").addEventListener("submit", startRun);
byId("answer-form").addEventListener("submit", sendAnswers);
byId("cancel-run").addEventListener("click", cancelRun);
byId("token-form").addEventListener("submit", useToken);
window.addEventListener("hashchange", () => select(runIdFromHash()));
setInterval(() => {
  if (!document.hidden) {
    loadRuns();
  }
}, RUNS_POLL_MS);

loadRuns();
select(runIdFromHash());
