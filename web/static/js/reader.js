// The document reader (progressive enhancement: the page works without it).
// 1. Renders the PDF's pages into canvases with pdf.js (vendored, same origin; CSP-friendly worker).
//    Pages are drawn when they scroll into view; the first one at once.
// 2. A text selection in the accessible text view fills the note form: quote, some context before
//    and after (to re-find the passage in a later version of the document) and the page number.
const MAX_PAGES = 500;
const CONTEXT = 48;

async function renderPdf(view) {
  const lib = await import(view.dataset.lib);
  lib.GlobalWorkerOptions.workerSrc = view.dataset.worker;
  const pdf = await lib.getDocument({ url: view.dataset.src, isEvalSupported: false, withCredentials: true }).promise;
  view.textContent = "";
  const count = Math.min(pdf.numPages, MAX_PAGES);
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(view.clientWidth - 16, 200);
  const draw = async (number, canvas) => {
    if (canvas.dataset.drawn) { return; }
    canvas.dataset.drawn = "1";
    const page = await pdf.getPage(number);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: (width / base.width) * ratio });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    await page.render({ canvasContext: canvas.getContext("2d"), viewport }).promise;
    canvas.dataset.rendered = "1";
  };
  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) { draw(Number(entry.target.dataset.page), entry.target); }
      }
    }, { root: view, rootMargin: "400px" })
    : null;
  for (let n = 1; n <= count; n += 1) {
    const label = document.createElement("p");
    label.className = "ws-pdf-page-label";
    label.textContent = `${view.dataset.labelPage} ${n}`;
    const canvas = document.createElement("canvas");
    canvas.dataset.page = String(n);
    canvas.id = `pdf-seite-${n}`;
    // The text of each page is in the text view beside it; the picture is decoration for screen readers.
    canvas.setAttribute("aria-hidden", "true");
    view.append(label, canvas);
    if (n === 1) { await draw(1, canvas); } else if (observer) { observer.observe(canvas); } else { draw(n, canvas); }
  }
  view.dataset.pages = String(pdf.numPages);
}

function pageOf(node) {
  const el = node && (node.nodeType === 1 ? node : node.parentElement);
  const section = el && el.closest("[data-page]");
  return section ? section.dataset.page : "";
}

function captureSelection(form) {
  const selection = window.getSelection();
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) { return; }
  const range = selection.getRangeAt(0);
  const textEl = range.commonAncestorContainer.nodeType === 1
    ? range.commonAncestorContainer : range.commonAncestorContainer.parentElement;
  const pageText = textEl && textEl.closest(".ws-page-text, .document-page");
  if (!pageText) { return; }
  const quote = selection.toString().trim();
  if (!quote) { return; }
  const container = pageText.closest(".document-page") || pageText;
  const full = container.querySelector(".ws-page-text") ? container.querySelector(".ws-page-text").textContent : container.textContent;
  const before = document.createRange();
  before.selectNodeContents(container.querySelector(".ws-page-text") || container);
  before.setEnd(range.startContainer, range.startOffset);
  const offset = before.toString().length;
  form.elements.quote.value = quote.slice(0, 2000);
  form.elements.prefix.value = full.slice(Math.max(0, offset - CONTEXT), offset);
  form.elements.suffix.value = full.slice(offset + quote.length, offset + quote.length + CONTEXT);
  form.elements.page.value = pageOf(range.startContainer);
}

function init() {
  const view = document.getElementById("pdf-view");
  if (view) {
    renderPdf(view).catch(() => {
      const p = document.createElement("p");
      p.className = "notice notice-error";
      p.textContent = view.dataset.labelError;
      view.prepend(p);
    });
  }
  const form = document.getElementById("note-form");
  const text = document.querySelector(".ws-text");
  if (form && text) {
    text.addEventListener("mouseup", () => captureSelection(form));
    text.addEventListener("keyup", (e) => { if (e.shiftKey) { captureSelection(form); } });
  }
  // A page link in a note scrolls both views: the text anchor (by href) and the rendered page.
  document.querySelectorAll(".ws-note-meta a[data-page]").forEach((a) => {
    a.addEventListener("click", () => {
      const canvas = document.getElementById(`pdf-seite-${a.dataset.page}`);
      if (canvas) { canvas.scrollIntoView({ block: "start" }); }
    });
  });
}

if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
