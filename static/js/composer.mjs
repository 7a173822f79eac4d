// The composer: memo fields or an uploaded PDF → pdf.js pages → one signature box per seat, moved and resized
// by mouse, touch or keyboard → POST with the boxes in PDF points (origin bottom-left), which route_start takes.
import { renderPdf } from "./pdfview.mjs";

const form = document.getElementById("compose-form");
const step1 = document.getElementById("step-1");
const step2 = document.getElementById("step-2");
const pagesHolder = document.getElementById("composer-pages");
const message = document.getElementById("compose-message");
const MARGIN = 36, GAP = 8, MIN_W = 40, MIN_H = 20;
const THAI_MONTHS = ["มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
  "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"];

let pdfBlob = null;
let pages = [];
let boxes = [];

function source() { return form.querySelector('input[name="source"]:checked')?.value || "memo"; }

function showSource() {
  const memo = source() === "memo";
  document.getElementById("memo-fields").hidden = !memo;
  document.getElementById("upload-fields").hidden = memo;
}

function showThaiDate() {
  const input = document.getElementById("id_memo_date");
  const out = document.getElementById("thai-date");
  if (!input.value) { out.textContent = ""; return; }
  const [y, m, d] = input.value.split("-").map(Number);
  out.textContent = `${d} ${THAI_MONTHS[m - 1]} ${y + 543}`;
}

function fail(text) {
  message.textContent = text;
  message.hidden = false;
  message.scrollIntoView({ block: "center" });
}

function errorsText(body) {
  if (!body) return "";
  const parts = [body.detail || ""];
  for (const [field, list] of Object.entries(body.errors || {})) {
    const label = form.querySelector(`label[for="id_${field}"]`)?.textContent || field;
    parts.push(`${label}: ${list.join(" ")}`);
  }
  return parts.filter(Boolean).join(" — ");
}

let memoPlacements = {};

async function loadPdf() {
  memoPlacements = {};
  if (source() === "upload") {
    const file = document.getElementById("id_file").files[0];
    if (!file) throw new Error(form.querySelector('label[for="id_file"]').textContent);
    return file;
  }
  const response = await fetch(form.dataset.preview, { method: "POST", body: new FormData(form), headers: { "X-Composer": "1" } });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(errorsText(body) || response.statusText);
  }
  memoPlacements = JSON.parse(response.headers.get("X-Signature-Placements") || "{}");
  return await response.blob();
}

async function loadSigners() {
  const code = document.getElementById("id_workflow").value;
  const response = await fetch(`${form.dataset.signers}?workflow=${encodeURIComponent(code)}`);
  if (!response.ok) throw new Error((await response.json()).detail);
  return await response.json();
}

// Screen pixels of a page ↔ PDF points.
function scaleOf(page) { return page.element.getBoundingClientRect().width / page.widthPt; }

function defaultLayout(signers, size, page) {
  const tiers = [...new Set(signers.map((s) => s.tier))].sort((a, b) => a - b);
  const perRow = Math.max(1, Math.floor((page.widthPt - 2 * MARGIN + GAP) / (size[0] + GAP)));
  const placed = [];
  let rowsUsed = 0;
  for (const tier of [...tiers].reverse()) {
    const seats = signers.filter((s) => s.tier === tier);
    const rows = Math.max(1, Math.ceil(seats.length / perRow));
    seats.forEach((signer, i) => {
      const row = rowsUsed + (rows - 1 - Math.floor(i / perRow));
      const x1 = MARGIN + (i % perRow) * (size[0] + GAP);
      const y1 = MARGIN + row * (size[1] + GAP);
      placed.push({ signer, page: page.index, box: [x1, y1, x1 + size[0], y1 + size[1]] });
    });
    rowsUsed += rows;
  }
  return placed;
}

function draw(item) {
  const page = pages[item.page];
  const s = scaleOf(page);
  const [x1, y1, x2, y2] = item.box;
  const el = item.element;
  el.style.left = `${(x1 - page.originX) * s}px`;
  el.style.top = `${(page.originY + page.heightPt - y2) * s}px`;
  el.style.width = `${(x2 - x1) * s}px`;
  el.style.height = `${(y2 - y1) * s}px`;
  if (el.parentElement !== page.element) page.element.appendChild(el);
  el.dataset.page = String(item.page);
  el.dataset.box = item.box.map((v) => v.toFixed(1)).join(",");
}

function clamp(item) {
  const page = pages[item.page];
  let [x1, y1, x2, y2] = item.box;
  const w = Math.min(Math.max(x2 - x1, MIN_W), page.widthPt), h = Math.min(Math.max(y2 - y1, MIN_H), page.heightPt);
  x1 = Math.min(Math.max(x1, page.originX), page.originX + page.widthPt - w);
  y1 = Math.min(Math.max(y1, page.originY), page.originY + page.heightPt - h);
  item.box = [x1, y1, x1 + w, y1 + h];
}

function pageUnder(clientX, clientY) {
  return pages.find((p) => {
    const r = p.element.getBoundingClientRect();
    return clientX >= r.left && clientX <= r.right && clientY >= r.top && clientY <= r.bottom;
  });
}

function makeBox(item) {
  const el = document.createElement("div");
  el.className = `sigbox tier-${item.signer.tier}`;
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  el.setAttribute("aria-label", `${item.signer.name}: signature box`);
  el.dataset.signer = item.signer.username;
  el.innerHTML = `<strong></strong><br><span></span><div class="grip" aria-hidden="true"></div>`;
  el.querySelector("strong").textContent = item.signer.name;
  el.querySelector("span").textContent = item.signer.position || "";
  item.element = el;

  el.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    el.setPointerCapture(event.pointerId);
    const resizing = event.target.classList.contains("grip");
    const start = { x: event.clientX, y: event.clientY, box: [...item.box], page: item.page };
    const move = (e) => {
      const s = scaleOf(pages[item.page]);
      const dx = (e.clientX - start.x) / s, dy = (e.clientY - start.y) / s;
      const [x1, y1, x2, y2] = start.box;
      if (resizing) {
        item.box = [x1, y2 - Math.max(MIN_H, y2 - y1 + dy), Math.max(x1 + MIN_W, x2 + dx), y2];
      } else {
        const target = pageUnder(e.clientX, e.clientY);
        if (target && target.index !== item.page) {
          // Carried onto another page: keep the box under the pointer there.
          const r = target.element.getBoundingClientRect(), ts = scaleOf(target);
          const w = x2 - x1, h = y2 - y1;
          const left = target.originX + (e.clientX - r.left) / ts - w / 2;
          const top = target.originY + target.heightPt - (e.clientY - r.top) / ts - h / 2;
          item.page = target.index;
          start.x = e.clientX; start.y = e.clientY;
          start.box = [left, top, left + w, top + h];
          item.box = [...start.box];
        } else {
          item.box = [x1 + dx, y1 - dy, x2 + dx, y2 - dy];
        }
      }
      clamp(item);
      draw(item);
    };
    const up = () => { el.removeEventListener("pointermove", move); el.removeEventListener("pointerup", up); };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up);
  });

  el.addEventListener("keydown", (event) => {
    const step = event.altKey ? 1 : 6;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[event.key];
    if (event.key === "PageDown" || event.key === "PageUp") {
      const next = item.page + (event.key === "PageDown" ? 1 : -1);
      if (next >= 0 && next < pages.length) { item.page = next; clamp(item); draw(item); el.focus(); }
      event.preventDefault();
      return;
    }
    if (!d) return;
    event.preventDefault();
    const [x1, y1, x2, y2] = item.box;
    item.box = event.shiftKey ? [x1, y1 - d[1], x2 + d[0], y2] : [x1 + d[0], y1 + d[1], x2 + d[0], y2 + d[1]];
    clamp(item);
    draw(item);
  });
  return el;
}

async function toPlacement() {
  message.hidden = true;
  if (!document.getElementById("id_title").value.trim()) {
    fail(document.querySelector('label[for="id_title"]').textContent);
    return;
  }
  const button = document.getElementById("to-placement");
  button.disabled = true;
  try {
    const [pdf, seats] = await Promise.all([loadPdf(), loadSigners()]);
    pdfBlob = pdf;
    step1.hidden = true;
    step2.hidden = false;
    pages = await renderPdf(pagesHolder, await pdf.arrayBuffer(), { width: 820 });
    boxes = defaultLayout(seats.signers, seats.box, pages[pages.length - 1]);
    // A composed memo has a box per seat below its body; an uploaded form starts from the positions saved
    // with the workflow template, when it has them.
    const startAt = source() === "memo" ? memoPlacements : (seats.saved || {});
    for (const item of boxes) {
      const placed = startAt[item.signer.username];
      if (placed && pages[placed.page]) Object.assign(item, { page: placed.page, box: placed.box });
    }
    const legend = document.getElementById("signer-legend");
    legend.replaceChildren();
    for (const item of boxes) {
      makeBox(item);
      draw(item);
      const li = document.createElement("li");
      li.innerHTML = `<span class="badge"></span>`;
      li.firstChild.textContent = `${item.signer.tier}. ${item.signer.name}`;
      legend.appendChild(li);
    }
    pagesHolder.dataset.ready = "1";
  } catch (error) {
    step1.hidden = false;
    step2.hidden = true;
    fail(error.message);
  } finally {
    button.disabled = false;
  }
}

async function send() {
  const button = document.getElementById("send");
  button.disabled = true;
  const placements = {};
  for (const item of boxes) placements[item.signer.username] = { page: item.page, box: item.box.map((v) => Math.round(v * 10) / 10) };
  const data = new FormData();
  data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
  data.append("source", "upload");
  data.append("workflow", document.getElementById("id_workflow").value);
  data.append("title", document.getElementById("id_title").value);
  data.append("urgency", document.getElementById("id_urgency").value);
  data.append("confidentiality", document.getElementById("id_confidentiality").value);
  const save = document.getElementById("id_save_positions");
  if (save && save.checked) data.append("save_positions", "on");
  data.append("file", pdfBlob, pdfBlob.name || "memo.pdf");
  data.append("placements", JSON.stringify(placements));
  try {
    const response = await fetch(form.action || window.location.href, { method: "POST", body: data, headers: { "X-Composer": "1" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(errorsText(body) || response.statusText);
    window.location.assign(body.url);
  } catch (error) {
    fail(error.message);
    button.disabled = false;
  }
}

form.addEventListener("change", (event) => { if (event.target.name === "source") showSource(); });
document.getElementById("id_memo_date").addEventListener("input", showThaiDate);
document.getElementById("to-placement").addEventListener("click", toPlacement);
document.getElementById("back-to-form").addEventListener("click", () => { step2.hidden = true; step1.hidden = false; });
document.getElementById("send").addEventListener("click", send);
window.addEventListener("resize", () => boxes.forEach(draw));
showSource();
showThaiDate();
