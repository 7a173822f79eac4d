// Document page: the PDF through pdf.js, and the OTP dialog in front of "approve".
import { renderPdf } from "./pdfview.mjs";

const holder = document.getElementById("pdf");
renderPdf(holder, holder.dataset.src, { width: 760 }).catch((error) => {
  holder.textContent = `PDF: ${error.message}`;
});

const open = document.getElementById("approve-open");
if (open) {
  const dialog = document.getElementById("otp-dialog");
  open.addEventListener("click", () => { dialog.showModal(); document.getElementById("otp").focus(); });
  document.getElementById("otp-cancel").addEventListener("click", () => dialog.close());
}
