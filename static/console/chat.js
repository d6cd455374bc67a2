// The chat page: streams answers from POST /chat ("stream": true) and shows their sources as cards.
"use strict";

(function () {
  const R = window.Ragsite;
  const SESSION_STORAGE = "ragsite.sessionId";
  const VAULT_STORAGE = "ragsite.chat.vault";
  const AGENT_STORAGE = "ragsite.chat.agent";
  const CITATION = /\[(\d+)\]/g;

  let messages, question, sendButton, vaultSelect, agentSelect, extractive;
  let busy = false;
  let messageCount = 0;

  function sessionId() {
    return localStorage.getItem(SESSION_STORAGE) || "";
  }

  // The answer's text with each [n] that names a source turned into a link to its card.
  function renderAnswer(target, text, sources, prefix) {
    target.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(CITATION)) {
      const number = Number(match[1]);
      if (number < 1 || number > sources.length) continue;
      target.append(document.createTextNode(text.slice(last, match.index)));
      target.append(R.element("a", {
        className: "cite",
        text: match[0],
        attrs: { href: `#${prefix}-${number}`, title: sources[number - 1].title || "Source " + number },
      }));
      last = match.index + match[0].length;
    }
    target.append(document.createTextNode(text.slice(last)));
  }

  function renderSources(list, sources, prefix) {
    list.replaceChildren();
    sources.forEach((source, index) => {
      const number = index + 1;
      const score = typeof source.score === "number" ? source.score.toFixed(2) : "";
      list.append(R.element("li", { className: "source", attrs: { id: `${prefix}-${number}`, tabindex: "-1" } }, [
        R.element("div", { className: "source-head" }, [
          R.element("span", { className: "source-number", text: `[${number}]` }),
          R.element("span", { className: "source-title", text: source.title || "Untitled" }),
          R.element("span", { className: "source-score", text: score ? "score " + score : "" }),
        ]),
        R.element("p", { className: "source-snippet", text: source.snippet || "" }),
      ]));
    });
    list.hidden = sources.length === 0;
  }

  function addMessage(role, content, sources) {
    messageCount += 1;
    const prefix = "source-" + messageCount;
    const body = R.element("div", { className: "content" });
    const sourceList = R.element("ol", { className: "sources", attrs: { "aria-label": "Sources" } });
    sourceList.hidden = true;
    const label = role === "user" ? "You" : (extractive ? "Answer (extractive)" : "Answer");
    const item = R.element("li", { className: "message " + role }, [
      R.element("span", { className: "role", text: label }),
      body,
      sourceList,
    ]);
    messages.append(item);
    document.getElementById("empty").hidden = true;
    const entry = { item, body, sourceList, prefix, text: content || "", sources: sources || [] };
    if (role === "assistant") {
      renderAnswer(body, entry.text, entry.sources, prefix);
      renderSources(sourceList, entry.sources, prefix);
    } else {
      body.textContent = entry.text;
    }
    return entry;
  }

  function clearConversation() {
    messages.replaceChildren();
    messageCount = 0;
    document.getElementById("empty").hidden = false;
  }

  async function restoreConversation() {
    const id = sessionId();
    if (!id) return;
    const response = await R.request("/sessions/" + encodeURIComponent(id));
    if (response.status === 404) {
      // Never saved (its first answer failed) or deleted since: start afresh.
      localStorage.removeItem(SESSION_STORAGE);
      return;
    }
    if (!response.ok) throw await R.errorFrom(response);
    const session = await response.json();
    for (const message of session.messages) {
      addMessage(message.role, message.content, message.role === "assistant" ? message.sources || [] : []);
    }
    scrollToEnd();
  }

  function scrollToEnd() {
    messages.lastElementChild?.scrollIntoView({ block: "end" });
  }

  // Server-Sent Events from a POST: EventSource only does GET, so the body is read and split here.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
        if (data) yield JSON.parse(data);
      }
      if (done) return;
    }
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    sendButton.textContent = value ? "Answering…" : "Send";
  }

  async function ask(text) {
    R.showError(null);
    setBusy(true);
    addMessage("user", text);
    const answer = addMessage("assistant", "");
    answer.item.classList.add("streaming");
    answer.item.setAttribute("aria-busy", "true");
    scrollToEnd();
    const payload = { message: text, stream: true };
    if (sessionId()) payload.session_id = sessionId();
    if (agentSelect.value) payload.agent_id = agentSelect.value;
    else if (vaultSelect.value) payload.vault_id = vaultSelect.value;
    let failure = null;
    try {
      const response = await R.request("/chat", { method: "POST", json: payload });
      if (!response.ok) throw await R.errorFrom(response);
      let finished = false;
      for await (const event of events(response)) {
        if (event.type === "token") {
          answer.text += event.content;
          answer.body.textContent = answer.text;
          scrollToEnd();
        } else if (event.type === "sources") {
          answer.sources = event.sources || [];
        } else if (event.type === "error") {
          throw new R.ApiError(event.error || "The answer could not be completed.", { code: event.code });
        } else if (event.type === "done") {
          localStorage.setItem(SESSION_STORAGE, event.session_id);
          finished = true;
        }
      }
      if (!finished) throw new R.ApiError("The answer stopped before it was complete. Please try again.");
      renderAnswer(answer.body, answer.text, answer.sources, answer.prefix);
      renderSources(answer.sourceList, answer.sources, answer.prefix);
    } catch (error) {
      failure = error;
    } finally {
      answer.item.classList.remove("streaming");
      answer.item.removeAttribute("aria-busy");
      setBusy(false);
    }
    if (failure) {
      // Nothing was saved on the server, so the failed exchange is not part of the conversation either.
      answer.item.classList.add("failed");
      answer.body.textContent = R.describeFailure(failure);
      R.showError(failure);
    } else {
      question.value = "";
    }
    scrollToEnd();
    question.focus();
  }

  async function loadAgents() {
    const data = await R.getJson("/agents");
    for (const agent of data.agents) {
      agentSelect.append(R.element("option", {
        text: agent.name, attrs: { value: agent.agent_id, "data-vault": agent.vault_id },
      }));
    }
    const saved = localStorage.getItem(AGENT_STORAGE);
    if (saved && [...agentSelect.options].some((option) => option.value === saved)) agentSelect.value = saved;
    syncVaultWithAgent();
  }

  // An agent answers from its own vault, so the vault choice follows it.
  function syncVaultWithAgent() {
    const option = agentSelect.selectedOptions[0];
    const vault = option ? option.getAttribute("data-vault") : null;
    if (vault) vaultSelect.value = vault;
    vaultSelect.disabled = Boolean(vault);
  }

  async function start() {
    messages = document.getElementById("messages");
    question = document.getElementById("question");
    sendButton = document.getElementById("send");
    vaultSelect = document.getElementById("vault-select");
    agentSelect = document.getElementById("agent-select");
    extractive = document.querySelector(".chat").dataset.extractive === "true";

    document.getElementById("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (text && !busy) ask(text);
    });
    question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        document.getElementById("ask-form").requestSubmit();
      }
    });
    document.getElementById("new-conversation").addEventListener("click", () => {
      localStorage.removeItem(SESSION_STORAGE);
      clearConversation();
      R.showError(null);
      question.focus();
    });
    vaultSelect.addEventListener("change", () => localStorage.setItem(VAULT_STORAGE, vaultSelect.value));
    agentSelect.addEventListener("change", () => {
      localStorage.setItem(AGENT_STORAGE, agentSelect.value);
      syncVaultWithAgent();
    });

    try {
      await R.loadVaults(vaultSelect, localStorage.getItem(VAULT_STORAGE));
      await loadAgents();
      await restoreConversation();
    } catch (error) {
      R.showError(error);
    }
    question.focus();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
