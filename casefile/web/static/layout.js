// Filter panels (<details class="filter-panel">): open on screens wider than a phone; on a
// phone closed unless a filter is set, so the results are on the first screen.
(function () {
  var wide = window.matchMedia("(min-width: 37.5rem)");
  function apply() {
    document.querySelectorAll("details.filter-panel").forEach(function (panel) {
      if (wide.matches || panel.hasAttribute("data-active")) { panel.open = true; }
    });
  }
  apply();
  wide.addEventListener("change", apply);
})();
