// Inbox: pick several documents, one OTP dialog, then the batch fragment polls its own progress (htmx).
(function () {
  const form = document.getElementById("batch-form");
  if (!form) return;
  const boxes = () => Array.from(form.querySelectorAll('input[name="documents"]'));
  const open = document.getElementById("batch-open");
  const count = document.getElementById("batch-count");
  const dialog = document.getElementById("batch-dialog");
  const all = document.getElementById("select-all");
  function refresh() {
    const n = boxes().filter((b) => b.checked).length;
    count.textContent = n;
    open.disabled = n === 0;
  }
  form.addEventListener("change", refresh);
  all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); refresh(); });
  open.addEventListener("click", () => { dialog.showModal(); document.getElementById("batch-otp").focus(); });
  document.getElementById("batch-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("htmx:beforeRequest", () => dialog.close());
  form.addEventListener("htmx:afterRequest", (event) => {
    document.getElementById("batch-otp").value = "";
    document.getElementById("batch-otp").required = true;
    form.querySelector("[name=webauthn]").value = "";  // a passkey's answer serves one request
    // Signed documents leave the inbox: the selection clears so nothing is signed twice by mistake.
    if (event.detail.successful) {
      boxes().forEach((b) => { b.checked = false; if (b.closest("tr")) b.closest("tr").classList.add("done"); });
      all.checked = false;
      refresh();
    }
  });
  // Error fragments (400/403) should still be shown to the user.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status === 400 || e.detail.xhr.status === 403) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  refresh();
})();
