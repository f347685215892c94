// Small formatting and DOM helpers shared by the page's modules. Text always goes in as text, never as HTML.

export function usd(value, digits = 4) {
  const number = Number(value);
  return Number.isFinite(number) ? `$${number.toFixed(digits)}` : "–";
}

export function count(value) {
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString("en-US") : "0";
}

export function percent(share) {
  const number = Number(share);
  return Number.isFinite(number) ? `${(number * 100).toFixed(1)}%` : "–";
}

/** A forecast's time: seconds under two minutes, else minutes. */
export function duration(seconds) {
  return seconds < 120 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
}

export function clock(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString("en-GB", { hour12: false });
}

export function clip(text, length) {
  const value = String(text ?? "");
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

/** A new element: `attributes` go through setAttribute (dataset keys as data-*), `children` are nodes or text. */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

/** Calls `action` at most once per `waitMs`, always once more after the last request. */
export function throttle(action, waitMs) {
  let timer = null;
  let again = false;
  const fire = () => {
    timer = null;
    if (again) {
      again = false;
      action();
      timer = setTimeout(fire, waitMs);
    }
  };
  return () => {
    again = true;
    if (timer === null) {
      fire();
    }
  };
}
