// What every page shares: calls to the gateway's API, its event streams, a DOM helper.

export class ApiError extends Error {}

// The gateway answers errors as problem+json: say the detail and the fields it names.
async function problem(response) {
  try {
    const body = await response.json();
    const fields = (body.errors || []).map((e) => `${e.field}: ${e.reason}`).join("; ");
    return new ApiError(`${response.status} ${body.detail || body.title}${fields ? ` (${fields})` : ""}`);
  } catch {
    return new ApiError(`${response.status} ${response.statusText}`);
  }
}

export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw await problem(response);
  return response.json();
}

export async function postJSON(path, body = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await problem(response);
  return response.json();
}

// An EventSource with a listener per event name (called with the data and the event's
// id); `live` in the header shows whether the page is connected. Returns the source (close it when the page goes).
export function follow(path, handlers) {
  const source = new EventSource(path);
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (message) => handle(message.data ? JSON.parse(message.data) : {}, message.lastEventId));
  }
  const live = document.getElementById("live");
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting"; live.className = ""; });
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
