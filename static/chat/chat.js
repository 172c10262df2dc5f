// Behaviour htmx does not give us: keyboard shortcuts, clearing the draft only once the server
// has saved it (and sending it once across reconnects), giving it back when a guardrail
// stopped it, catching up after a reconnect,
// announcing start and end of a reply, copy buttons, and keeping the latest text in view.
// No inline scripts: the page must work under a strict Content-Security-Policy.
(function () {
  "use strict";

  function announce(text) {
    const status = document.getElementById("status");
    if (status) status.textContent = text;
  }

  function newDraftId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- theme -------------------------------------------------------------------------------
  function setupTheme() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const root = document.documentElement;
    const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
    const isDark = () => root.dataset.theme === "dark" || (!root.dataset.theme && systemDark.matches);
    const show = () => button.setAttribute("aria-pressed", String(isDark()));
    button.addEventListener("click", function () {
      root.dataset.theme = isDark() ? "light" : "dark";
      try { localStorage.setItem("theme", root.dataset.theme); } catch (e) { /* not kept */ }
      show();
    });
    systemDark.addEventListener("change", show);
    show();
  }

  // --- sidebar, rename, delete, edit --------------------------------------------------------
  function setupChrome() {
    const toggle = document.getElementById("sidebar-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        const open = document.body.classList.toggle("sidebar-open");
        toggle.setAttribute("aria-expanded", String(open));
        if (open) document.getElementById("conversation-search").focus();
      });
    }
    const renameButton = document.getElementById("rename-button");
    const renameForm = document.getElementById("rename-form");
    if (renameButton && renameForm) {
      const title = document.getElementById("conversation-title");
      const showForm = (editing) => {
        renameForm.hidden = !editing;
        title.hidden = editing;
        renameButton.hidden = editing;
        if (editing) renameForm.querySelector("input[name=title]").select();
        else renameButton.focus();
      };
      renameButton.addEventListener("click", () => showForm(true));
      renameForm.querySelector("[data-rename-cancel]").addEventListener("click", () => showForm(false));
    }
    document.addEventListener("submit", function (event) {
      const message = event.target.dataset && event.target.dataset.confirm;
      if (message && !window.confirm(message)) event.preventDefault();
    }, true);
    document.addEventListener("click", function (event) {
      const edit = event.target.closest("[data-edit], [data-edit-cancel]");
      if (!edit) return;
      const form = document.getElementById(edit.dataset.edit || edit.dataset.editCancel);
      const opening = Boolean(edit.dataset.edit) && form.hidden;
      form.hidden = !opening;
      const opener = form.parentElement.querySelector("[data-edit]");
      opener.setAttribute("aria-expanded", String(opening));
      if (opening) form.querySelector("textarea").focus(); else opener.focus();
    });
  }

  // --- copy buttons -------------------------------------------------------------------------
  function copy(text, button) {
    navigator.clipboard.writeText(text).then(function () {
      button.classList.add("copied");
      announce("Copied to clipboard.");
      setTimeout(() => button.classList.remove("copied"), 2000);
    }, function () { announce("Copying failed: your browser refused access to the clipboard."); });
  }

  function addCodeCopyButtons(root) {
    // Not in the growing tail: it is re-rendered with every frame.
    root.querySelectorAll(".message-body pre.highlight").forEach(function (pre) {
      if (pre.closest("[id$='-tail']") || pre.previousElementSibling?.classList.contains("copy-code")) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.setAttribute("aria-label", "Copy code");
      pre.parentNode.insertBefore(button, pre);
    });
  }

  function setupCopy() {
    document.addEventListener("click", function (event) {
      const code = event.target.closest(".copy-code");
      if (code) { copy(code.nextElementSibling.innerText, code); return; }
      const message = event.target.closest("[data-copy]");
      if (message) copy(document.getElementById(message.dataset.copy).innerText.trim(), message);
    });
    addCodeCopyButtons(document);
    document.body.addEventListener("htmx:afterSettle", (event) => addCodeCopyButtons(event.target));
  }

  // --- keyboard -----------------------------------------------------------------------------
  function setupShortcuts() {
    const dialog = document.getElementById("shortcuts");
    document.addEventListener("keydown", function (event) {
      const mod = event.ctrlKey || event.metaKey;
      if (mod && event.shiftKey && event.key.toLowerCase() === "o") {
        event.preventDefault();
        window.location.assign(document.querySelector(".brand").href);
      } else if (mod && event.key === "/" && dialog) {
        event.preventDefault();
        if (dialog.open) dialog.close(); else dialog.showModal();
      } else if (event.key === "Escape" && !(dialog && dialog.open)) {
        const state = document.getElementById("turn-state");
        if (state && state.dataset.state === "streaming") {
          event.preventDefault();
          document.getElementById("stop-form").requestSubmit();
        }
      }
    });
  }

  // --- the chat page ------------------------------------------------------------------------
  function setupChat() {
    const chat = document.querySelector("main.chat");
    if (!chat) return;
    const input = document.getElementById("composer-input");
    const composer = document.getElementById("composer");
    const draftId = document.getElementById("composer-client-id");
    const messages = document.getElementById("messages");
    let lastState = document.getElementById("turn-state").dataset.state;
    let dropped = false;
    draftId.value = newDraftId();

    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (input.value.trim()) composer.requestSubmit();
      }
    });
    // Enter in an edit box sends the edit too.
    messages.addEventListener("keydown", function (event) {
      if (event.target.matches(".edit-form textarea") && event.key === "Enter"
          && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        event.target.form.requestSubmit();
      }
    });

    chat.addEventListener("htmx:wsBeforeSend", function () {  // any request: send, retry, edit…
      document.getElementById("chat-error").textContent = "";
    });

    // After a dropped connection, ask for the conversation as saved before anything queued
    // offline goes out (htmx sends its queue right after this event).
    chat.addEventListener("htmx:wsClose", function () { dropped = true; });
    chat.addEventListener("htmx:wsOpen", function (event) {
      if (!dropped) return;
      dropped = false;
      event.detail.socketWrapper.sendImmediately(JSON.stringify({ action: "sync" }), chat);
    });

    // Follow the newest text while the user is at the bottom; leave them be once they scroll up
    // to read, even a little, until they come back down. Judged by the direction of the scroll,
    // not by distance alone, so a frame arriving mid-scroll never pulls them back down.
    let stick = true;
    let lastTop = messages.scrollTop;
    function following() {
      const top = messages.scrollTop;
      const gap = messages.scrollHeight - top - messages.clientHeight;
      if (gap <= 2) stick = true;
      else if (top < lastTop) stick = false;
      else if (top > lastTop && gap < 120) stick = true;
      lastTop = top;
      return stick;
    }
    messages.addEventListener("scroll", following, { passive: true });
    chat.addEventListener("htmx:wsBeforeMessage", following);
    chat.addEventListener("htmx:wsAfterMessage", function () {
      const ack = document.getElementById("composer-ack").dataset.ack;
      if (ack && ack === draftId.value) {
        input.value = "";  // the server saved it: only now is the draft safe to drop
        draftId.value = newDraftId();
        stick = true;
      }
      const restore = document.getElementById("composer-restore");
      if (restore.dataset.text) {
        // Saved but not sent (a guardrail stopped it): back in the composer to rephrase, unless
        // the user is already typing something else.
        if (!input.value.trim()) input.value = restore.dataset.text;
        restore.dataset.text = "";
      }
      const state = document.getElementById("turn-state").dataset.state;
      if (state !== lastState) {
        announce(state === "streaming" ? "Assistant is responding…" : "Response complete.");
        lastState = state;
      }
      document.title = document.getElementById("conversation-title").textContent + " · Switchboard";
      addCodeCopyButtons(messages);
      if (stick) messages.scrollTop = messages.scrollHeight;
      lastTop = messages.scrollTop;
    });

    messages.scrollTop = messages.scrollHeight;
    lastTop = messages.scrollTop;
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupTheme();
    setupChrome();
    setupCopy();
    setupShortcuts();
    setupChat();
  });
})();
