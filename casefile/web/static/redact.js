/* The redaction page: draw boxes over the page image with a mouse, a pen or a finger
   (Pointer Events), list them with a remove button each, move between a PDF's pages without
   losing them, and send them as JSON in the form's hidden `boxes` field. Coordinates are
   fractions of the page as shown (0..1 from the top left), as the server expects. Without
   script the page offers one box typed in as percentages instead. */
(function () {
  "use strict";
  var form = document.getElementById("redact-form");
  var stage = document.getElementById("redact-stage");
  var image = document.getElementById("redact-image");
  if (!form || !stage || !image || !window.JSON) { return; }
  var messages = JSON.parse(form.getAttribute("data-messages") || "{}");
  var pages = parseInt(form.getAttribute("data-pages"), 10) || 1;
  var page = parseInt(form.getAttribute("data-page"), 10) || 1;
  var pageUrl = form.getAttribute("data-page-url");
  var hidden = form.elements.boxes;
  var list = document.getElementById("redact-boxes");
  var none = document.getElementById("redact-none");
  var boxes = [];
  try {
    var kept = JSON.parse(hidden.value || "[]");  // a refused form keeps what was drawn
    if (Array.isArray(kept)) { boxes = kept.filter(valid); }
  } catch (ignore) { boxes = []; }

  document.getElementById("redact-typed").hidden = true;
  document.getElementById("redact-hint").hidden = false;
  document.getElementById("redact-boxes-h").hidden = false;
  list.hidden = false;

  function valid(box) {
    return box && typeof box.x === "number" && typeof box.y === "number" &&
      typeof box.width === "number" && typeof box.height === "number" && box.page >= 1;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  function percent(value) { return (Math.round(value * 1000) / 10).toString(); }

  function clamp(value) { return Math.min(1, Math.max(0, value)); }

  function save() { hidden.value = boxes.length ? JSON.stringify(boxes) : ""; }

  function render() {
    Array.prototype.slice.call(stage.querySelectorAll(".redact-box")).forEach(function (node) {
      node.remove();
    });
    boxes.forEach(function (box) {
      if (box.page !== page) { return; }
      stage.appendChild(overlay(box));
    });
    list.textContent = "";
    boxes.forEach(function (box, index) {
      var item = document.createElement("li");
      var text = document.createElement("span");
      text.textContent = fill(messages.box || "", {
        page: box.page, left: percent(box.x), top: percent(box.y),
        width: percent(box.width), height: percent(box.height)
      });
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = messages.remove || "Remove";
      remove.addEventListener("click", function () {
        boxes.splice(index, 1);
        save();
        render();
      });
      item.appendChild(text);
      item.appendChild(remove);
      list.appendChild(item);
    });
    none.hidden = boxes.length > 0;
    save();
  }

  function overlay(box) {
    var node = document.createElement("div");
    node.className = "redact-box";
    node.style.left = (box.x * 100) + "%";
    node.style.top = (box.y * 100) + "%";
    node.style.width = (box.width * 100) + "%";
    node.style.height = (box.height * 100) + "%";
    return node;
  }

  var start = null;
  var drawing = null;

  function point(event) {
    var rect = image.getBoundingClientRect();
    return {
      x: clamp((event.clientX - rect.left) / rect.width),
      y: clamp((event.clientY - rect.top) / rect.height)
    };
  }

  function current(event) {
    var here = point(event);
    return {
      page: page,
      x: Math.min(start.x, here.x), y: Math.min(start.y, here.y),
      width: Math.abs(here.x - start.x), height: Math.abs(here.y - start.y)
    };
  }

  stage.addEventListener("pointerdown", function (event) {
    if (event.button !== undefined && event.button !== 0) { return; }
    event.preventDefault();
    start = point(event);
    drawing = overlay({ x: start.x, y: start.y, width: 0, height: 0 });
    drawing.classList.add("drawing");
    stage.appendChild(drawing);
    if (stage.setPointerCapture) { stage.setPointerCapture(event.pointerId); }
  });
  stage.addEventListener("pointermove", function (event) {
    if (!start) { return; }
    var box = current(event);
    drawing.style.left = (box.x * 100) + "%";
    drawing.style.top = (box.y * 100) + "%";
    drawing.style.width = (box.width * 100) + "%";
    drawing.style.height = (box.height * 100) + "%";
  });
  function finish(event) {
    if (!start) { return; }
    var box = current(event);
    start = null;
    if (drawing) { drawing.remove(); drawing = null; }
    if (box.width > 0.002 && box.height > 0.002) {  // a click is not a box
      boxes.push(box);
      render();
    }
  }
  stage.addEventListener("pointerup", finish);
  stage.addEventListener("pointercancel", function () {
    start = null;
    if (drawing) { drawing.remove(); drawing = null; }
  });

  // A PDF's pages without reloading (the boxes drawn stay); links remain for no script.
  var label = document.getElementById("redact-page-label");
  var pager = document.getElementById("redact-pager");
  function go(to) {
    if (to < 1 || to > pages || !pageUrl) { return; }
    page = to;
    image.src = pageUrl.replace(/\/0\.png$/, "/" + page + ".png");
    image.alt = fill(messages.page || "", { page: page, pages: pages });
    if (label) label.textContent = fill(messages.page || "", { page: page, pages: pages });
    Array.prototype.slice.call(pager.querySelectorAll("a[data-step]")).forEach(function (link) {
      var step = parseInt(link.getAttribute("data-step"), 10);
      link.hidden = page + step < 1 || page + step > pages;
    });
    render();
  }
  if (pager) {
    Array.prototype.slice.call(pager.querySelectorAll("a[data-step]")).forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        go(page + parseInt(link.getAttribute("data-step"), 10));
      });
    });
  }
  render();
}());
