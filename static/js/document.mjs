// Document page: the PDF through pdf.js at the page's width (with zoom), the OTP dialog in front of
// "approve" (send-a-code, submit at six digits), a confirmation before "reject", and a fresh render when
// the live panel reports a new version.
import { renderPdf } from "./pdfview.mjs";

const holder = document.getElementById("pdf");
let zoom = 1;
let rendering = Promise.resolve();

function show() {
  const fit = Math.max(240, holder.clientWidth - 4);
  holder.classList.toggle("zoomed", zoom > 1);
  rendering = rendering
    .then(() => renderPdf(holder, holder.dataset.src, { width: Math.round(fit * zoom), fill: true }))
    .catch(() => { holder.textContent = holder.dataset.error; });
}
show();

document.querySelectorAll("[data-zoom]").forEach((button) => {
  button.addEventListener("click", () => {
    const step = button.dataset.zoom;
    zoom = step === "fit" ? 1 : Math.min(3, Math.max(0.5, zoom * (step === "in" ? 1.25 : 0.8)));
    show();
  });
});

// The live timeline swaps the version label out of band; a new number means a new file to show.
let shownVersion = document.getElementById("version-info")?.dataset.version;
document.body.addEventListener("htmx:afterSettle", () => {
  const now = document.getElementById("version-info")?.dataset.version;
  if (now && now !== shownVersion) {
    shownVersion = now;
    show();
    // The approval names the version on the screen: the one just drawn.
    const sha = document.getElementById("shown-sha256");
    if (sha) sha.value = document.getElementById("version-info").dataset.sha256;
  }
});

const comment = document.getElementById("decision-comment");
function needReason() {
  if (comment.value.trim()) { comment.setCustomValidity(""); return true; }
  comment.setCustomValidity(comment.closest("form").dataset.reasonRequired || comment.labels[0].textContent);
  comment.reportValidity();
  comment.focus();
  return false;
}

const open = document.getElementById("approve-open");
if (open) {
  const form = document.getElementById("decision-form");
  const dialog = document.getElementById("otp-dialog");
  const otp = document.getElementById("otp");
  const openOtp = () => { dialog.showModal(); otp.focus(); };
  open.addEventListener("click", openOtp);
  document.getElementById("otp-cancel").addEventListener("click", () => dialog.close());
  otp.addEventListener("input", () => {
    const digits = otp.value.replace(/\D/g, "");
    if (digits.length === 6 && /^\s*\d{6}\s*$/.test(otp.value)) {
      form.requestSubmit(document.getElementById("approve-sign"));
    }
  });
  if (dialog.dataset.open) openOtp();
  comment.addEventListener("input", () => comment.setCustomValidity(""));

  document.getElementById("return-button").addEventListener("click", (event) => {
    if (!needReason()) event.preventDefault();
  });
  const reject = document.getElementById("reject-dialog");
  document.getElementById("reject-open").addEventListener("click", () => {
    if (!needReason()) return;
    document.getElementById("reject-reason").textContent = comment.value.trim();
    reject.showModal();
    document.getElementById("reject-cancel").focus();
  });
  document.getElementById("reject-cancel").addEventListener("click", () => reject.close());
  // The OTP field is required for approving only; the other buttons skip validation (formnovalidate).
}
