// Cost over time during execution against the forecast's band (low, expected, high), drawn by uPlot
// (vendored under /static/vendor).

import uPlot from "./vendor/uPlot.esm.js";

export class CostChart {
  constructor(container) {
    this.container = container;
    this.plot = null;
    this.points = [];
    this.band = null;
  }

  clear() {
    this.points = [];
    this.band = null;
    this.plot?.destroy();
    this.plot = null;
    this.container.hidden = true;
  }

  setForecast(forecast) {
    this.band = forecast ? forecast.cost : null;
    this.draw();
  }

  /** An llm.call event: the run's cost so far at the event's time. */
  add(timestamp, totalUsd) {
    this.points.push([new Date(timestamp).getTime() / 1000, totalUsd]);
    this.draw();
  }

  draw() {
    if (!this.band || this.points.length === 0) {
      return;
    }
    this.container.hidden = false;
    const times = this.points.map((point) => point[0]);
    const line = (value) => times.map(() => Number(value));
    const data = [times, this.points.map((point) => point[1]), line(this.band.low_usd), line(this.band.expected_usd), line(this.band.high_usd)];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        width: Math.max(320, this.container.clientWidth || 640),
        height: 200,
        series: [
          {},
          { label: "cost", stroke: "#2f6fde", width: 2 },
          { label: "low", stroke: "#9aa5b1", dash: [4, 4] },
          { label: "expected", stroke: "#2e8540", dash: [6, 3] },
          { label: "high", stroke: "#c0392b", dash: [4, 4] },
        ],
        axes: [{}, { values: (_, ticks) => ticks.map((tick) => `$${tick.toFixed(2)}`) }],
      },
      data,
      this.container,
    );
  }

  get pointCount() {
    return this.points.length;
  }
}
