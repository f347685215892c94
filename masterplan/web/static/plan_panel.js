// The plan under review and during execution: its dependency graph (tasks grouped by phase, coloured by
// status, updated live), the forecast table with the simple edits, Approve and Replan, and the budget flag.
//
// The graph is drawn by Cytoscape.js, vendored under /static/vendor (the page works offline).

import cytoscape from "./vendor/cytoscape.esm.min.js";
import { duration, element, usd } from "./format.js";

const COMPLEXITIES = ["low", "medium", "high"];
const STATUS_COLOURS = {
  pending: "#9aa5b1",
  running: "#2f6fde",
  completed: "#2e8540",
  failed: "#c0392b",
  skipped: "#b7791f",
};
const GRAPH_STYLE = [
  {
    selector: "node[status]",
    style: {
      label: "data(label)",
      "background-color": (node) => STATUS_COLOURS[node.data("status")] ?? STATUS_COLOURS.pending,
      color: "#1f2933",
      "font-size": 10,
      "text-valign": "bottom",
      "text-margin-y": 4,
      width: 18,
      height: 18,
    },
  },
  {
    selector: ":parent",
    style: {
      label: "data(label)",
      "text-valign": "top",
      "background-color": "#f5f7fa",
      "border-color": "#cbd2d9",
      "font-size": 11,
    },
  },
  { selector: "edge", style: { width: 1.5, "line-color": "#9aa5b1", "target-arrow-shape": "triangle", "curve-style": "bezier", "target-arrow-color": "#9aa5b1" } },
];

export class PlanPanel {
  /** `actions`: { edit(body), approve(), replan(feedback) }, each resolving once the server answered. */
  constructor(root, actions) {
    this.root = root;
    this.actions = actions;
    this.graph = null;
    this.statuses = {};
    this.view = null;
    root.querySelector("#approve-plan").addEventListener("click", () => this.actions.approve());
    root.querySelector("#replan-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = root.querySelector("#replan-feedback").value.trim();
      if (text) {
        this.actions.replan(text);
      }
    });
  }

  clear() {
    this.view = null;
    this.statuses = {};
    this.root.hidden = true;
    this.graph?.destroy();
    this.graph = null;
  }

  /** `view`: GET /runs/{id}/plan; `waiting`: the run awaits approval (the edits and buttons are live). */
  show(view, waiting) {
    this.view = view;
    this.root.hidden = false;
    this.root.dataset.waiting = String(waiting);
    this.root.querySelector("#plan-review").hidden = !waiting;
    this.showBudget(view);
    this.showTotals(view.forecast);
    this.showTable(view, waiting);
    this.drawGraph(view.plan);
  }

  setStatus(taskId, status) {
    this.statuses[taskId] = status;
    this.graph?.getElementById(`task:${taskId}`).data("status", status);
    this.root.querySelector("#plan-graph").dataset.statuses = JSON.stringify(this.graphStatuses());
  }

  showBudget(view) {
    const flag = this.root.querySelector("#plan-over-budget");
    flag.hidden = !view.over_budget;
    flag.textContent = view.over_budget ? `Over budget: ${view.over_budget}` : "";
  }

  showTotals(forecast) {
    const totals = this.root.querySelector("#forecast-totals");
    if (!forecast) {
      totals.textContent = "No forecast for this plan.";
      return;
    }
    const { cost, wall_time: wall } = forecast;
    const faster = forecast.wall_times
      .filter((time) => time.seconds < wall.seconds * 0.8)
      .sort((a, b) => a.seconds - b.seconds)[0];
    totals.replaceChildren(
      element("span", { "data-forecast": "expected" }, `Expected ${usd(cost.expected_usd)}`),
      element("span", { "data-forecast": "range" }, ` (range ${usd(cost.low_usd)} – ${usd(cost.high_usd)})`),
      element("span", {}, `, ${forecast.calls} calls, cache reads ${(forecast.cache_read_share * 100).toFixed(0)}% of input; `),
      element("span", { "data-forecast": "time" }, `about ${duration(wall.seconds)} at tier ${wall.tier}, concurrency ${wall.concurrency}`),
      element("span", {}, faster ? ` (tier ${faster.tier}, concurrency ${faster.concurrency}: ${duration(faster.seconds)})` : ""),
    );
  }

  showTable(view, waiting) {
    const costs = Object.fromEntries((view.forecast?.tasks ?? []).map((task) => [task.task_id, task]));
    const rows = view.plan.tasks.map((task) => {
      const priced = costs[task.task_id];
      const complexity = waiting
        ? element("select", { "data-edit": "complexity", "aria-label": `complexity of ${task.task_id}` },
            ...COMPLEXITIES.map((level) => element("option", { value: level, selected: level === task.complexity }, level)))
        : task.complexity;
      if (waiting) {
        complexity.addEventListener("change", () =>
          this.actions.edit({ change: { [task.task_id]: { complexity: complexity.value } } }));
      }
      const remove = element("button", { type: "button", class: "secondary", "data-edit": "remove" }, "Remove");
      remove.addEventListener("click", () => this.actions.edit({ remove: [task.task_id] }));
      return element(
        "tr",
        { "data-task-id": task.task_id },
        element("td", {}, task.phase),
        element("td", {}, element("code", {}, task.task_id), " ", task.title),
        element("td", {}, complexity),
        element("td", {}, priced ? `${priced.model}${priced.pinned ? " (pinned)" : ""}` : "–"),
        element("td", { class: "num", "data-cost": "expected" }, priced ? usd(priced.cost.expected_usd) : "–"),
        element("td", {}, waiting ? remove : ""),
      );
    });
    this.root.querySelector("#forecast-table tbody").replaceChildren(...rows);
  }

  drawGraph(plan) {
    const elements = [
      ...plan.phases.map((phase) => ({ data: { id: `phase:${phase.phase_id}`, label: phase.name } })),
      ...plan.tasks.map((task) => ({
        data: {
          id: `task:${task.task_id}`,
          label: task.task_id,
          parent: `phase:${task.phase}`,
          status: this.statuses[task.task_id] ?? "pending",
        },
      })),
      ...plan.tasks.flatMap((task) =>
        task.depends_on.map((dep) => ({ data: { id: `dep:${dep}->${task.task_id}`, source: `task:${dep}`, target: `task:${task.task_id}` } })),
      ),
    ];
    this.graph?.destroy();
    this.graph = cytoscape({
      container: this.root.querySelector("#plan-graph"),
      elements,
      style: GRAPH_STYLE,
      layout: { name: "breadthfirst", directed: true, spacingFactor: 0.9 },
      userZoomingEnabled: false,
    });
    const container = this.root.querySelector("#plan-graph");
    container.dataset.nodes = String(this.graph.nodes("[status]").length);
    container.dataset.edges = String(this.graph.edges().length);
    container.dataset.statuses = JSON.stringify(this.graphStatuses());
  }

  /** Task id -> status as the graph shows it (for the page's tests and screen readers alike). */
  graphStatuses() {
    return Object.fromEntries(this.graph?.nodes("[status]").map((node) => [node.id().slice(5), node.data("status")]) ?? []);
  }
}
