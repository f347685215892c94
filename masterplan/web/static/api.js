// The masterplan HTTP API as the page uses it: JSON in and out, with the optional bearer token.

const TOKEN_KEY = "masterplan.token";

/** The server wants a token (HTTP 401) and the page has none or a wrong one. */
export class Unauthorized extends Error {}

/** Any other answer that is not 2xx; `status` is the HTTP status, the message the server's. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function storeToken(value) {
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

/** The message of an error body `{"error": {"status", "message", "fields"?}}`, each invalid field named. */
function errorMessage(payload, status) {
  const error = payload && typeof payload === "object" ? (payload.error ?? payload) : null;
  if (typeof error === "string") {
    return error;
  }
  if (error && typeof error.message === "string") {
    const fields = Array.isArray(error.fields) ? error.fields.map((item) => `${item.field}: ${item.message}`) : [];
    return fields.length ? `${error.message} (${fields.join("; ")})` : error.message;
  }
  return `the server answered HTTP ${status}`;
}

/** Calls the API; resolves to the parsed JSON body, rejects with Unauthorized or ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const token = storedToken();
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let payload = null;
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = null;
    }
  }
  if (response.status === 401) {
    throw new Unauthorized(errorMessage(payload, response.status));
  }
  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(payload, response.status));
  }
  return payload;
}

/** The WebSocket URL of a run's event stream, resuming after `after`. */
export function streamUrl(runId, after) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ after: String(after) });
  const token = storedToken();
  if (token) {
    query.set("token", token);
  }
  return `${scheme}://${location.host}/runs/${encodeURIComponent(runId)}/ws?${query}`;
}
