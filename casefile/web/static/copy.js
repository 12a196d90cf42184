// Copy buttons for hashes: <button class="copy" data-copy="element-id">.
document.querySelectorAll("button.copy").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.setAttribute("aria-live", "polite");
      button.dataset.label = button.dataset.label || button.textContent;
      button.textContent = "✓";
      setTimeout(function () { button.textContent = button.dataset.label; }, 1500);
    });
  });
});

// Previews load only when opened: opening one is a custody entry ("viewed").
document.querySelectorAll("details.preview").forEach(function (details) {
  details.addEventListener("toggle", function () {
    var frame = details.querySelector("iframe[data-src]");
    if (details.open && frame && !frame.src) { frame.src = frame.dataset.src; }
  });
});
