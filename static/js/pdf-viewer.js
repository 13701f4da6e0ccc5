// In-page PDF viewer for a material's file (templates/content/material.html), built on PDF.js
// (static/vendor/pdfjs, copied from the pdfjs-dist package by `make vendor`). One page at a time
// in a canvas: previous/next, "page x of n", zoom out/in and fit-to-width, which is the default so
// a phone shows the whole page width without the page scrolling sideways. A zoomed-in page
// scrolls inside its own frame instead.
import * as pdfjs from "../vendor/pdfjs/pdf.min.js";

const MIN_SCALE = 0.25;
const MAX_SCALE = 4;
const ZOOM_STEP = 1.25;

function setUp(root) {
  const canvas = root.querySelector("[data-pdf-canvas]");
  const frame = root.querySelector("[data-pdf-frame]");
  const status = root.querySelector("[data-pdf-status]");
  const prev = root.querySelector("[data-pdf-prev]");
  const next = root.querySelector("[data-pdf-next]");
  const zoomOut = root.querySelector("[data-pdf-zoom-out]");
  const zoomIn = root.querySelector("[data-pdf-zoom-in]");
  const fit = root.querySelector("[data-pdf-fit]");
  const failure = root.querySelector("[data-pdf-error]");

  pdfjs.GlobalWorkerOptions.workerSrc = root.dataset.worker;

  let doc = null;
  let pageNumber = 1;
  let fitWidth = true;
  let scale = 1;
  let task = null; // the render in progress, cancelled when another is asked for

  function showStatus() {
    // "Page {page} of {pages}" in the reader's language, from the page (data-page-of).
    const pageOf = root.dataset.pageOf || "Page {page} of {pages}";
    status.textContent = pageOf
      .replace("{page}", String(pageNumber))
      .replace("{pages}", String(doc.numPages));
    root.dataset.page = String(pageNumber);
    root.dataset.pages = String(doc.numPages);
    prev.disabled = pageNumber <= 1;
    next.disabled = pageNumber >= doc.numPages;
    zoomOut.disabled = scale <= MIN_SCALE;
    zoomIn.disabled = scale >= MAX_SCALE;
    fit.setAttribute("aria-pressed", String(fitWidth));
  }

  async function render() {
    if (task) {
      task.cancel();
    }
    const page = await doc.getPage(pageNumber);
    const natural = page.getViewport({ scale: 1 });
    if (fitWidth) {
      // The frame's inner width, so the page never needs a horizontal scroll bar.
      const width = frame.clientWidth - 2;
      scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, width / natural.width));
    }
    const viewport = page.getViewport({ scale });
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.floor(viewport.width * ratio);
    canvas.height = Math.floor(viewport.height * ratio);
    canvas.style.width = `${Math.floor(viewport.width)}px`;
    canvas.style.height = `${Math.floor(viewport.height)}px`;
    root.dataset.rendered = "";
    task = page.render({
      canvas,
      viewport,
      transform: ratio === 1 ? null : [ratio, 0, 0, ratio, 0, 0],
    });
    try {
      await task.promise;
      root.dataset.rendered = String(pageNumber);
    } catch (error) {
      if (error && error.name === "RenderingCancelledException") {
        return;
      }
      throw error;
    } finally {
      task = null;
    }
    showStatus();
  }

  function go(delta) {
    const target = pageNumber + delta;
    if (doc && target >= 1 && target <= doc.numPages) {
      pageNumber = target;
      render();
    }
  }

  function zoom(factor) {
    fitWidth = false;
    scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale * factor));
    render();
  }

  prev.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));
  zoomOut.addEventListener("click", () => zoom(1 / ZOOM_STEP));
  zoomIn.addEventListener("click", () => zoom(ZOOM_STEP));
  fit.addEventListener("click", () => {
    fitWidth = true;
    render();
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft" || event.key === "PageUp") {
      go(-1);
    } else if (event.key === "ArrowRight" || event.key === "PageDown") {
      go(1);
    }
  });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    if (!fitWidth || !doc) {
      return;
    }
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });

  pdfjs
    .getDocument({
      url: root.dataset.src,
      // No eval: the Content-Security-Policy allows scripts from this site only.
      isEvalSupported: false,
      standardFontDataUrl: root.dataset.fonts,
      withCredentials: true,
    })
    .promise.then((loaded) => {
      doc = loaded;
      return render();
    })
    .catch(() => {
      status.textContent = "";
      failure.hidden = false;
      root.dataset.failed = "1";
    });
}

document.querySelectorAll("[data-pdf-viewer]").forEach(setUp);
