// The live task table: one row per plan task, kept up to date by the run's events.
//
// GET /runs/{id}/tasks gives the first picture (and the titles); the events, replayed from the start
// of the run and then live, move each row along. A row's cost while it runs is the sum of its
// llm.call events; task.completed then states the task's final cost, model and attempts.

import { element, usd } from "./format.js";

const STATUSES = new Set(["pending", "running", "completed", "failed", "skipped"]);

function taskTitle(task) {
  return task.title ?? task.definition?.title ?? "";
}

export class TasksTable {
  constructor(table, emptyNote) {
    this.body = table.tBodies[0];
    this.emptyNote = emptyNote;
    this.rows = new Map();
  }

  clear() {
    this.rows.clear();
    this.body.replaceChildren();
    this.emptyNote.hidden = false;
  }

  /** The snapshot of GET /runs/{id}/tasks: adds missing rows, fills titles, takes its figures. */
  load(tasks) {
    for (const task of tasks) {
      const row = this.row(task.task_id);
      row.title = taskTitle(task) || row.title;
      if (!row.streamed) {
        row.status = STATUSES.has(task.status) ? task.status : row.status;
        row.model = task.model ?? row.model;
        row.attempts = Number(task.attempts ?? row.attempts);
        row.cost = Number(task.cost_usd ?? row.cost);
      }
      this.render(row);
    }
  }

  /** How many rows there are and how many ended, by status. */
  progress() {
    const counts = { total: this.rows.size, completed: 0, failed: 0, skipped: 0 };
    for (const row of this.rows.values()) {
      if (row.status in counts) {
        counts[row.status] += 1;
      }
    }
    return counts;
  }

  /** Applies one run event; returns true if it concerned the table. */
  apply(event) {
    const data = event.data ?? {};
    if (event.type === "plan.completed") {
      for (const taskId of data.task_ids ?? []) {
        this.render(this.row(taskId));
      }
      return true;
    }
    if (!data.task_id || !(event.type.startsWith("task.") || event.type === "llm.call")) {
      return false;
    }
    const row = this.row(data.task_id);
    if (!row.streamed) {
      row.streamed = true;
      row.cost = 0;
    }
    this.update(row, event.type, data);
    this.render(row);
    return true;
  }

  update(row, type, data) {
    switch (type) {
      case "task.started":
        row.status = "running";
        row.title = data.title || row.title;
        row.attempts = Math.max(row.attempts, 1);
        break;
      case "task.retry":
        row.attempts = Number(data.attempt) + 1;
        break;
      case "task.attempt_failed":
        row.attempts = Number(data.attempt);
        break;
      case "task.completed":
        row.status = "completed";
        row.model = data.model ?? row.model;
        row.attempts = Number(data.attempts ?? row.attempts);
        row.cost = Number(data.cost_usd ?? row.cost);
        break;
      case "task.failed":
        row.status = "failed";
        row.attempts = Number(data.attempts ?? row.attempts);
        break;
      case "task.skipped":
        row.status = "skipped";
        break;
      case "llm.call":
        row.model = data.model ?? row.model;
        row.cost += Number(data.cost_usd ?? 0);
        break;
      default:
        break;
    }
  }

  row(taskId) {
    let row = this.rows.get(taskId);
    if (!row) {
      const cells = {
        id: element("td", {}, element("code", {}, taskId)),
        title: element("td"),
        status: element("td", {}, element("span", { class: "badge" })),
        model: element("td"),
        attempts: element("td", { class: "num" }),
        cost: element("td", { class: "num" }),
      };
      const node = element("tr", { "data-task-id": taskId }, ...Object.values(cells));
      row = { taskId, title: "", status: "pending", model: null, attempts: 0, cost: 0, streamed: false, node, cells };
      this.rows.set(taskId, row);
      this.body.append(node);
      this.emptyNote.hidden = true;
    }
    return row;
  }

  render(row) {
    row.node.dataset.status = row.status;
    row.cells.title.textContent = row.title;
    const badge = row.cells.status.firstChild;
    badge.textContent = row.status;
    badge.dataset.status = row.status;
    row.cells.model.textContent = row.model ?? "–";
    row.cells.attempts.textContent = String(row.attempts);
    row.cells.cost.textContent = row.status === "pending" && !row.cost ? "–" : usd(row.cost);
  }
}
