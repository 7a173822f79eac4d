// Renders every page of a PDF into a container with pdf.js (served from static/vendor; no CDN).
// Returns one record per page: its wrapper element and its size in PDF points, which composer.mjs needs to
// turn screen pixels into PDF coordinates.
import * as pdfjs from "../vendor/pdfjs/build/pdf.min.mjs";

pdfjs.GlobalWorkerOptions.workerSrc = new URL("../vendor/pdfjs/build/pdf.worker.min.mjs", import.meta.url).href;

// `fill`: draw at `width` even when wider than the container (zoom; the container scrolls).
export async function renderPdf(container, source, { width = 820, fill = false } = {}) {
  const params = source instanceof ArrayBuffer || ArrayBuffer.isView(source) ? { data: source } : { url: source };
  // Fonts and character maps are local too, so nothing is fetched from the internet.
  const base = new URL("../vendor/pdfjs/", import.meta.url).href;
  const pdf = await pdfjs.getDocument({
    ...params, cMapUrl: base + "cmaps/", cMapPacked: true, standardFontDataUrl: base + "standard_fonts/", isEvalSupported: false,
  }).promise;
  container.replaceChildren();
  const pages = [];
  for (let n = 1; n <= pdf.numPages; n += 1) {
    const page = await pdf.getPage(n);
    const natural = page.getViewport({ scale: 1 });
    const scale = (fill ? width : Math.min(width, container.clientWidth || width)) / natural.width;
    const ratio = window.devicePixelRatio || 1;
    const viewport = page.getViewport({ scale: scale * ratio });
    const canvas = document.createElement("canvas");
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    canvas.setAttribute("aria-label", `page ${n}`);
    const wrapper = document.createElement("div");
    wrapper.className = "pdf-page";
    wrapper.dataset.page = String(n - 1);
    wrapper.style.width = `${natural.width * scale}px`;
    wrapper.appendChild(canvas);
    container.appendChild(wrapper);
    await page.render({ canvasContext: canvas.getContext("2d"), viewport }).promise;
    const [x0, y0, x1, y1] = page.view;
    pages.push({ index: n - 1, element: wrapper, widthPt: x1 - x0, heightPt: y1 - y0, originX: x0, originY: y0 });
  }
  container.dataset.rendered = String(pdf.numPages);
  return pages;
}
