// Image previews (an image, a PDF's page) load only when opened: each image served is a
// custody entry ("viewed"). One that fails to load says so instead of a broken image.
document.querySelectorAll("details.preview img[data-src]").forEach(function (image) {
  var details = image.closest("details");
  var failed = details.querySelector(".preview-failed");
  image.addEventListener("error", function () {
    image.hidden = true;
    if (failed) { failed.hidden = false; }
  });
  function load() {
    if (details.open && !image.getAttribute("src")) { image.src = image.dataset.src; }
  }
  details.addEventListener("toggle", load);
  load();
});
