// The documents page: list with search and paging, uploads with progress, delete with confirmation.
"use strict";

(function () {
  const R = window.Ragsite;
  const PAGE_SIZE = 20;
  const VAULT_STORAGE = "ragsite.documents.vault";
  const state = { offset: 0, total: 0, q: "" };
  let vaultSelect, tbody, summary;

  function formatDate(value) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  async function loadDocuments() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
    if (state.q) params.set("q", state.q);
    if (vaultSelect.value) params.set("vault_id", vaultSelect.value);
    summary.textContent = "Loading…";
    try {
      const data = await R.getJson("/documents?" + params.toString());
      state.total = data.total;
      if (data.documents.length === 0 && state.offset > 0 && data.total > 0) {
        state.offset = Math.max(0, Math.floor((data.total - 1) / PAGE_SIZE) * PAGE_SIZE);
        return loadDocuments();
      }
      renderDocuments(data.documents);
    } catch (error) {
      summary.textContent = "Documents could not be loaded.";
      R.showError(error);
    }
  }

  function renderDocuments(documents) {
    tbody.replaceChildren();
    for (const doc of documents) {
      const remove = R.element("button", {
        className: "danger quiet", text: "Delete", attrs: { type: "button", "aria-label": "Delete " + (doc.title || doc.source || doc.document_id) },
      });
      remove.addEventListener("click", () => confirmDelete(doc));
      tbody.append(R.element("tr", { attrs: { "data-document-id": doc.document_id } }, [
        R.element("td", { className: "title", text: doc.title || "Untitled" }),
        R.element("td", { className: "document-source", text: doc.source || "" }),
        R.element("td", { className: "number", text: doc.chunk_count === 1 ? "1 chunk" : `${doc.chunk_count} chunks` }),
        R.element("td", { text: formatDate(doc.updated_at) }),
        R.element("td", {}, [remove]),
      ]));
    }
    const first = state.total ? state.offset + 1 : 0;
    const last = state.offset + documents.length;
    const query = state.q ? ` matching “${state.q}”` : "";
    summary.textContent = state.total
      ? `Documents ${first}–${last} of ${state.total}${query}`
      : `No documents${query}.`;
    document.getElementById("previous-page").disabled = state.offset === 0;
    document.getElementById("next-page").disabled = last >= state.total;
  }

  function confirmDelete(doc) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-message").textContent =
      `“${doc.title || doc.source || doc.document_id}” and its chunks will be deleted for good.`;
    dialog.returnValue = "";
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "delete") return;
      try {
        const response = await R.request("/documents/" + encodeURIComponent(doc.document_id), { method: "DELETE" });
        if (!response.ok && response.status !== 404) throw await R.errorFrom(response);
        R.showError(null);
      } catch (error) {
        R.showError(error);
      }
      loadDocuments();
    }, { once: true });
    dialog.showModal();
  }

  // XMLHttpRequest rather than fetch: only it reports upload progress.
  function send(file, row) {
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("file", file, file.name);
      if (vaultSelect.value) form.append("vault_id", vaultSelect.value);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/ingest");
      xhr.setRequestHeader("Accept", "application/json");
      for (const [name, value] of Object.entries(R.authHeaders())) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          row.progress.value = event.loaded / event.total;
          row.status.textContent = event.loaded < event.total ? "uploading" : "indexing…";
        }
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (_) {
          body = null;
        }
        resolve({ status: xhr.status, body, retryAfter: xhr.getResponseHeader("Retry-After"), statusText: xhr.statusText });
      });
      xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
      xhr.send(form);
    });
  }

  async function upload(file) {
    const progress = R.element("progress", { attrs: { max: "1", value: "0", "aria-label": "Upload of " + file.name } });
    const status = R.element("span", { className: "upload-status", text: "waiting" });
    const item = R.element("li", { className: "upload" }, [
      R.element("span", { className: "upload-name", text: file.name }), progress, status,
    ]);
    document.getElementById("uploads").append(item);
    const row = { progress, status };
    for (;;) {
      status.textContent = "uploading";
      const result = await send(file, row);
      if (result.status === 401) {
        const refused = R.apiKey() ? "That key was refused. Enter another one." : "This service needs an API key.";
        if (R.apiKey()) R.setApiKey("");
        if (await R.askForKey(refused)) continue;
      }
      progress.value = 1;
      if (result.status === 200 && result.body) {
        const chunks = result.body.chunk_count === 1 ? "1 chunk" : `${result.body.chunk_count} chunks`;
        status.textContent = `${result.body.status} · ${chunks}`;
        item.dataset.status = result.body.status;
      } else {
        const reason = result.status === 0
          ? "the server could not be reached"
          : R.errorFromBody(result.status, result.body, result.retryAfter, result.statusText).message;
        status.textContent = "failed: " + reason;
        item.dataset.status = "failed";
      }
      return;
    }
  }

  async function uploadAll(files) {
    // One at a time: the server embeds each file as it arrives, and rate budgets count every request.
    for (const file of files) await upload(file);
    state.offset = 0;
    loadDocuments();
  }

  function start() {
    vaultSelect = document.getElementById("vault-select");
    tbody = document.getElementById("documents");
    summary = document.getElementById("documents-summary");

    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.q = document.getElementById("search-input").value.trim();
      state.offset = 0;
      loadDocuments();
    });
    document.getElementById("previous-page").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      loadDocuments();
    });
    document.getElementById("next-page").addEventListener("click", () => {
      state.offset += PAGE_SIZE;
      loadDocuments();
    });
    vaultSelect.addEventListener("change", () => {
      localStorage.setItem(VAULT_STORAGE, vaultSelect.value);
      state.offset = 0;
      loadDocuments();
    });

    const input = document.getElementById("file-input");
    input.addEventListener("change", () => {
      const files = [...input.files];
      input.value = "";
      if (files.length) uploadAll(files);
    });
    const zone = document.getElementById("drop-zone");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const files = [...(event.dataTransfer?.files || [])];
      if (files.length) uploadAll(files);
    });

    R.loadVaults(vaultSelect, localStorage.getItem(VAULT_STORAGE))
      .catch((error) => R.showError(error))
      .finally(loadDocuments);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
