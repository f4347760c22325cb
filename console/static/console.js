// Empreinte console: progressive enhancement only. Every page works without this file.
"use strict";

(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Attach a fingerprint file by dropping it; refuse an oversized file before sending it.
  function dropzone(form) {
    var input = form.querySelector('input[type="file"]');
    var message = form.querySelector("#attach-message");
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
    function tooLarge() {
      var file = input.files && input.files[0];
      if (file && file.size > limit) {
        message.textContent = form.getAttribute("data-too-large");
        return true;
      }
      message.textContent = "";
      return false;
    }
    form.classList.add("droppable");
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      form.classList.add("over");
    });
    form.addEventListener("dragleave", function () {
      form.classList.remove("over");
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        if (!tooLarge()) {
          form.requestSubmit();
        }
      }
    });
    input.addEventListener("change", tooLarge);
    form.addEventListener("submit", function (event) {
      if (tooLarge()) {
        event.preventDefault();
      }
    });
  }

  // Unblur the found image: record it in the audit log first, then show it.
  function unblur(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      if (button.disabled) {
        return;
      }
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf() },
        credentials: "same-origin",
      }).then(function (answer) {
        if (answer.ok) {
          var frame = document.getElementById("frame");
          frame.className = "frame shown";
        } else {
          button.disabled = false;
        }
      });
    });
  }

  // Draw the match box in the found image's own pixel coordinates.
  function box(image) {
    var svg = document.getElementById("box");
    function fit() {
      if (svg && image.naturalWidth) {
        svg.setAttribute("viewBox", "0 0 " + image.naturalWidth + " " + image.naturalHeight);
        svg.classList.add("fitted");
      }
    }
    if (image.complete) {
      fit();
    } else {
      image.addEventListener("load", fit);
    }
  }

  // One key, one decision: C confirm, F false match, N not intimate, U unblur, T take.
  function shortcuts() {
    var busy = false;
    document.addEventListener("keydown", function (event) {
      if (busy || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var tag = (event.target && event.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
        return;
      }
      var key = event.key.toLowerCase();
      if (key === "u") {
        var un = document.getElementById("unblur-form");
        if (un) {
          un.requestSubmit();
        }
        return;
      }
      var button = document.querySelector('button[data-key="' + key + '"]');
      if (button && !button.disabled) {
        event.preventDefault();
        busy = true;
        button.form.requestSubmit(button);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var attach = document.getElementById("attach-form");
    if (attach) {
      dropzone(attach);
    }
    var un = document.getElementById("unblur-form");
    if (un) {
      unblur(un);
    }
    var image = document.getElementById("found-image");
    if (image) {
      box(image);
    }
    shortcuts();
  });
})();
