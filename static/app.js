// Dialogs loaded by htmx into #dialog-root open as modal <dialog>s: focus moves in, Escape
// or Cancel closes them, and focus returns to the control that opened them. Without
// JavaScript the same links open full pages.
(function () {
  "use strict";
  var opener = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-root") {
      opener = event.detail.elt;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.detail.target;
    if (!root || root.id !== "dialog-root") {
      return;
    }
    var dialog = root.querySelector("dialog");
    if (!dialog) {
      return;
    }
    dialog.addEventListener("close", function () {
      root.innerHTML = "";
      if (opener && document.body.contains(opener)) {
        opener.focus();
      }
    });
    dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]), button, [href]");
    if (first) {
      first.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-dialog]");
    var dialog = close && close.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });
})();
