// Reordering a filing's exhibits by dragging them (the Up and Down buttons work without it).
// On drop the new order is sent as the whole list of ids, with the version of the list read,
// through the page's hidden form: the server renumbers and records each move.
(function () {
  "use strict";
  var list = document.getElementById("exhibits");
  var form = document.getElementById("order-form");
  if (!list || !form || list.dataset.draggable !== "yes") {
    return;
  }
  var dragged = null;
  list.addEventListener("dragstart", function (event) {
    dragged = event.target.closest("li");
    if (dragged && event.dataTransfer) {
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.id);
    }
  });
  list.addEventListener("dragover", function (event) {
    var over = event.target.closest("li");
    if (!dragged || !over || over === dragged) {
      return;
    }
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", function (event) {
    event.preventDefault();
  });
  list.addEventListener("dragend", function () {
    if (!dragged) {
      return;
    }
    dragged = null;
    var ids = Array.prototype.map.call(list.querySelectorAll("li[data-id]"), function (item) {
      return item.dataset.id;
    });
    var field = form.querySelector("input[name=exhibit_ids]");
    if (field.value !== ids.join(",")) {
      field.value = ids.join(",");
      form.submit();
    }
  });
})();
