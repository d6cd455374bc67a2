// Shared by the console pages: calls to the ragsite API with the user's key, and readable error messages.
// Everything that comes from the server is shown with textContent or DOM nodes, never as HTML.
"use strict";

(function () {
  const KEY_STORAGE = "ragsite.apiKey";

  class ApiError extends Error {
    constructor(message, { status = 0, code = "" } = {}) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // sessionStorage only: the key dies with the tab and never reaches localStorage or a cookie.
  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function setApiKey(key) {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    updateKeyButton();
  }

  function updateKeyButton() {
    const button = document.getElementById("api-key-button");
    if (button) button.hidden = !apiKey();
  }

  function authHeaders() {
    const key = apiKey();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  // One prompt at a time: requests refused together all wait for the same answer.
  let pendingKey = null;

  function askForKey(message) {
    if (pendingKey) return pendingKey;
    const dialog = document.getElementById("key-dialog");
    const form = document.getElementById("key-form");
    const input = document.getElementById("key-input");
    document.getElementById("key-dialog-message").textContent = message;
    input.value = "";
    pendingKey = new Promise((resolve) => {
      const finish = (key) => {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        pendingKey = null;
        resolve(key);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        setApiKey(key);
        finish(key);
      };
      const onCancel = (event) => {
        event.preventDefault();
        finish("");
      };
      const cancel = document.getElementById("key-cancel");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      input.focus();
    });
    return pendingKey;
  }

  // The message of an error envelope ({"error", "code", "detail"}), or of whatever else came back.
  async function errorFrom(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return errorFromBody(response.status, body, response.headers.get("Retry-After"), response.statusText);
  }

  function errorFromBody(status, body, retryAfter, statusText) {
    if (!body || typeof body.error !== "string") {
      const reason = statusText ? " " + statusText : "";
      return new ApiError(`The server answered ${status}${reason}.`, { status });
    }
    let message = body.error;
    const detail = body.detail;
    if (typeof detail === "string" && detail && detail !== message) {
      message += ": " + detail;
    } else if (detail && typeof detail === "object") {
      const parts = Object.entries(detail).map(([field, messages]) =>
        `${field}: ${Array.isArray(messages) ? messages.join(" ") : String(messages)}`);
      if (parts.length) message += " (" + parts.join("; ") + ")";
    }
    if (status === 429 && retryAfter) {
      message += ` Try again in ${retryAfter} s.`;
    }
    return new ApiError(message, { status, code: body.code || "" });
  }

  function describeFailure(error) {
    if (error instanceof ApiError) return error.message;
    if (error && error.name === "AbortError") return "The request was cancelled.";
    return "The server could not be reached. Check your connection and try again.";
  }

  // fetch() with the key; a 401 asks for a key and tries again, until the user gives up (then ApiError 401).
  async function request(path, { method = "GET", json, body, signal } = {}) {
    let message = "This service needs an API key.";
    for (;;) {
      const headers = { Accept: "application/json", ...authHeaders() };
      let payload = body;
      if (json !== undefined) {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(json);
      }
      let response;
      try {
        response = await fetch(path, { method, headers, body: payload, signal, credentials: "same-origin" });
      } catch (error) {
        throw error.name === "AbortError" ? error : new ApiError(describeFailure(error));
      }
      if (response.status !== 401) return response;
      const refused = await errorFrom(response);
      if (apiKey()) {
        message = "That key was refused (" + refused.message + "). Enter another one.";
        setApiKey("");
      }
      const key = await askForKey(message);
      if (!key) throw new ApiError("An API key is needed to use this service.", { status: 401, code: "UNAUTHORIZED" });
    }
  }

  // request() for JSON answers: the parsed body, or an ApiError carrying the envelope's message.
  async function getJson(path, options) {
    const response = await request(path, options);
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  function showError(error) {
    const box = document.getElementById("error");
    if (!box) return;
    if (!error) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.textContent = typeof error === "string" ? error : describeFailure(error);
    box.hidden = false;
  }

  function element(tag, { className, text, attrs } = {}, children = []) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) node.append(child);
    return node;
  }

  async function loadVaults(select, selected) {
    const data = await getJson("/vaults");
    for (const vault of data.vaults) {
      select.append(element("option", { text: vault.name, attrs: { value: vault.vault_id } }));
    }
    if (selected && [...select.options].some((option) => option.value === selected)) select.value = selected;
    return data.vaults;
  }

  document.addEventListener("DOMContentLoaded", () => {
    updateKeyButton();
    const button = document.getElementById("api-key-button");
    if (button) button.addEventListener("click", () => setApiKey(""));
  });

  window.Ragsite = {
    ApiError, apiKey, setApiKey, askForKey, authHeaders, request, getJson, errorFrom, errorFromBody,
    describeFailure, showError, element, loadVaults,
  };
})();
