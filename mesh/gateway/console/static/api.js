// What every page shares: calls to the gateway's API, its event streams, a DOM helper.

export class ApiError extends Error {}

// Every call says it comes from the console: with auth on, a request the session cookie
// signs in must carry this header to change anything (a cross-site form cannot send it).
const CONSOLE = { "X-Mesh-Console": "1" };

// Called when the gateway answers 401 (no session, or it ended): the app signs in again.
let unauthorized = () => {};
export function onUnauthorized(callback) { unauthorized = callback; }

// The gateway answers errors as problem+json: say the detail and the fields it names.
async function problem(response) {
  if (response.status === 401) unauthorized();
  try {
    const body = await response.json();
    const fields = (body.errors || []).map((e) => `${e.field}: ${e.reason}`).join("; ");
    const detail = body.detail || body.title;
    return new ApiError(`${response.status} ${detail}${fields && fields !== detail ? ` (${fields})` : ""}`);
  } catch {
    return new ApiError(`${response.status} ${response.statusText}`);
  }
}

export async function request(method, path, body) {
  const headers = { ...CONSOLE, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await problem(response);
  return response.status === 204 ? {} : response.json();
}

export const getJSON = (path) => request("GET", path);
export const postJSON = (path, body = {}) => request("POST", path, body);

// An EventSource with a listener per event name (called with the data and the event's
// id); `live` in the header shows whether the page is connected. Returns the source (close it when the page goes).
export function follow(path, handlers) {
  const source = new EventSource(path);
  const live = document.getElementById("live");
  // A handler's failed call (a 401 once the session ended, say) is shown, not thrown.
  const failed = (error) => { live.textContent = "error"; live.className = ""; live.title = error.message; };
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (message) => {
      Promise.resolve(handle(message.data ? JSON.parse(message.data) : {}, message.lastEventId)).catch(failed);
    });
  }
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "on"; live.title = ""; });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting"; live.className = "";
    // A refused stream (401 once the session ended) is not retried by the browser.
    if (source.readyState === EventSource.CLOSED) getJSON("/v1/console/session").then((who) => {
      if (who.auth && !who.name) unauthorized();
    }).catch(() => {});
  });
  return source;
}

// el("a", {href: "#"}, "text", child...): an element with attributes and children.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

export function statusBadge(status) {
  return el("span", { class: `status ${status}`, "data-status": status }, status);
}

export function taskLink(id) {
  return el("a", { href: `#/tasks/${encodeURIComponent(id)}`, class: "id" }, id);
}

// Runs `action`, showing its failure (the gateway's problem) in `where`.
export async function attempt(where, action) {
  where.textContent = "";
  try {
    await action();
  } catch (error) {
    where.textContent = error.message;
  }
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "dead_lettered"]);
