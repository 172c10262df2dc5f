// Chat page behaviour that htmx does not give us: Enter to send, clearing the draft only once
// the server has saved it, announcing start and end of a reply, and keeping the latest text
// in view. No inline scripts: the page must work under a strict Content-Security-Policy.
(function () {
  "use strict";

  function setup() {
    const chat = document.querySelector("main.chat");
    if (!chat) return;
    const input = document.getElementById("composer-input");
    const composer = document.getElementById("composer");
    const messages = document.getElementById("messages");
    const status = document.getElementById("status");
    let lastAck = "";
    let lastState = document.getElementById("turn-state").dataset.state;

    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (input.value.trim()) composer.requestSubmit();
      }
    });

    composer.addEventListener("htmx:wsBeforeSend", function () {
      document.getElementById("chat-error").textContent = "";
    });

    function nearBottom() {
      return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 120;
    }

    let stick = true;
    chat.addEventListener("htmx:wsBeforeMessage", function () { stick = nearBottom(); });
    chat.addEventListener("htmx:wsAfterMessage", function () {
      const ack = document.getElementById("composer-ack").dataset.ack;
      if (ack && ack !== lastAck) {
        lastAck = ack;
        input.value = "";  // the server saved it: only now is the draft safe to drop
        stick = true;
      }
      const state = document.getElementById("turn-state").dataset.state;
      if (state !== lastState) {
        status.textContent = state === "streaming" ? "Assistant is responding…" : "Response complete.";
        lastState = state;
      }
      document.title = document.getElementById("conversation-title").textContent + " · Switchboard";
      if (stick) messages.scrollTop = messages.scrollHeight;
    });

    messages.scrollTop = messages.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
