// Put the result of the last action where the eye is (templates/macros.html): the form's
// error summary if there is one, else the flashed messages at the top of <main>. Focusing
// scrolls it into view and makes a screen reader read it.
document.addEventListener("DOMContentLoaded", function () {
  var target = document.querySelector("[data-focus='summary']") ||
    document.querySelector("[data-focus='messages']");
  if (target) { target.focus(); }
  // A link in the summary moves to its field, not only to the field's id.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var field = document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (!field) { return; }
      event.preventDefault();
      var control = field.matches("input, select, textarea") ? field : field.querySelector("input, select, textarea");
      (control || field).focus();
      field.scrollIntoView({ block: "center" });
    });
  });
});
