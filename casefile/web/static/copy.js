// Copy buttons for hashes: <button class="copy" data-copy-value="…"> (the value itself), or
// data-copy="element-id" (that element's text).
document.querySelectorAll("button.copy").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = button.dataset.copy ? document.getElementById(button.dataset.copy) : null;
    var value = button.dataset.copyValue || (source ? source.textContent.trim() : "");
    if (!value || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(value).then(function () {
      button.setAttribute("aria-live", "polite");
      var label = button.dataset.label || button.innerHTML;
      button.dataset.label = label;
      button.textContent = "✓";
      setTimeout(function () { button.innerHTML = label; }, 1500);
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
