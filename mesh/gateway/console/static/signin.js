// Who the console is signed in as (`GET /v1/console/session`), the sign-in form, and
// sign-out. With auth on, the gateway answers a pasted API key or JWT with a session
// cookie (HttpOnly: no script here ever sees it) that every later call and stream sends.
import { ApiError, el, getJSON, request } from "./api.js";

export const session = { auth: false, name: null, tenant: null, scopes: [] };

// Whether the signed-in caller may use `scope` (the buttons shown follow it).
export function may(scope) {
  return !session.auth || session.scopes.includes("admin") || session.scopes.includes(scope);
}

export async function whoAmI() {
  Object.assign(session, await getJSON("/v1/console/session"));
  return session;
}

export function signOut() {
  return request("DELETE", "/v1/console/session");
}

// The sign-in form, in `view`; `done` runs once the gateway has set the session.
export function showSignIn(view, done) {
  const credential = el("input", { name: "credential", type: "password", autocomplete: "off",
    placeholder: "API key or JWT", required: true });
  const message = el("p", { class: "error", role: "alert" });
  async function submit(event) {
    event.preventDefault();
    message.textContent = "";
    try {
      Object.assign(session, await request("POST", "/v1/console/session", { credential: credential.value }));
      credential.value = "";
      done();
    } catch (error) {
      message.textContent = error instanceof ApiError ? error.message : String(error);
    }
  }
  view.replaceChildren(el("form", { class: "signin", onsubmit: submit },
    el("h1", {}, "Sign in"),
    el("p", { class: "none" }, "This gateway authenticates its callers: paste an API key or a JWT (its scopes and tenant apply here)."),
    credential, el("button", { type: "submit" }, "Sign in"), message));
  credential.focus();
}
