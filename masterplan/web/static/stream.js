// A run's live events over the WebSocket, resumed with `after=<last seq>` whenever the socket closes.
//
// The server sends every stored event after `after`, then live ones, in order. A client that falls
// behind is closed (code 4008) and simply reconnects from the last event it saw, so nothing is lost
// and nothing is applied twice (events at or below the last seen seq are ignored).

import { streamUrl } from "./api.js";

const SLOW_CLIENT_CLOSE = 4008;
const NORMAL_CLOSE = 1000;
const MAX_DELAY_MS = 5000;

export class EventStream {
  /**
   * hooks.onEvent(event): every new event, in seq order.
   * hooks.onMessage(message): anything else the server sends (errors, acknowledgements).
   * hooks.onState(state, detail): "connecting" | "open" | "reconnecting" | "closed".
   * hooks.beforeReconnect(closeEvent): async; resolves false to stay closed (run ended, no token).
   */
  constructor(runId, hooks) {
    this.runId = runId;
    this.hooks = hooks;
    this.lastSeq = 0;
    this.failures = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
  }

  start(after = 0) {
    this.lastSeq = after;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) {
      this.socket.close(NORMAL_CLOSE, "page moved on");
      this.socket = null;
    }
    this.hooks.onState("closed", "");
  }

  /** Sends a JSON message if the socket is open; false otherwise. */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    this.socket.send(JSON.stringify(message));
    return true;
  }

  connect() {
    this.hooks.onState("connecting", `from event ${this.lastSeq}`);
    const socket = new WebSocket(streamUrl(this.runId, this.lastSeq));
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.hooks.onState("open", "");
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => {
      if (this.socket === socket) {
        this.socket = null;
        this.closed(event);
      }
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this.hooks.onMessage({ type: "error", message: `unreadable message: ${String(text).slice(0, 120)}` });
      return;
    }
    if (!message || typeof message.seq !== "number") {
      this.hooks.onMessage(message);
      return;
    }
    this.failures = 0;
    if (message.seq <= this.lastSeq) {
      return;
    }
    this.lastSeq = message.seq;
    this.hooks.onEvent(message);
  }

  async closed(event) {
    if (this.stopped) {
      return;
    }
    const why = event.code === SLOW_CLIENT_CLOSE ? "too slow, catching up" : `closed (${event.code})`;
    this.hooks.onState("reconnecting", why);
    const goOn = await this.hooks.beforeReconnect(event);
    if (this.stopped) {
      return;
    }
    if (!goOn) {
      this.hooks.onState("closed", "");
      return;
    }
    const delay = event.code === SLOW_CLIENT_CLOSE ? 0 : Math.min(MAX_DELAY_MS, 250 * 2 ** this.failures);
    this.failures += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
