// Suggestions for the incident form's location (docs/incidents.md): when the country is
// Myanmar, the state/region, district and township inputs get native <datalist> suggestions
// (keyboard accessible as the browser's own), fetched from /api/v1/places/myanmar as one
// types, in English or Burmese, within the state/region and district already chosen. The
// server checks the names again; without scripts the fields are plain text inputs.
(function () {
  var form = document.getElementById("incident-form");
  if (!form) { return; }
  var url = form.getAttribute("data-places-url");
  var myanmar = ["myanmar", "mm", "mmr", "burma", "မြန်မာ", "မြန်မာနိုင်ငံ"];
  var fields = {};
  ["country", "state_region", "district", "township"].forEach(function (name) {
    fields[name] = form.querySelector("#" + name);
  });
  function inMyanmar() {
    return myanmar.indexOf(fields.country.value.trim().toLowerCase()) !== -1;
  }
  function fill(list, places) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    places.forEach(function (place) {
      var option = document.createElement("option");
      option.value = place.en;
      option.textContent = place.my + (place.district ? " · " + place.district : "") +
        (place.level !== "state_region" ? " · " + place.state_region : "");
      list.appendChild(option);
    });
  }
  var pending = {};
  function suggest(level) {
    var input = fields[level];
    var list = document.getElementById(level + "-options");
    if (!inMyanmar()) { input.removeAttribute("list"); return; }
    input.setAttribute("list", level + "-options");
    if (level === "state_region") { return; }  // the page carries all fifteen
    clearTimeout(pending[level]);
    pending[level] = setTimeout(function () {
      var query = new URLSearchParams({ level: level, q: input.value.trim() });
      if (fields.state_region.value.trim()) { query.set("state_region", fields.state_region.value.trim()); }
      if (level === "township" && fields.district.value.trim()) { query.set("district", fields.district.value.trim()); }
      fetch(url + "?" + query.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (body) { fill(list, body.items || []); })
        .catch(function () { /* suggestions are a help; the server checks the names */ });
    }, 150);
  }
  ["state_region", "district", "township"].forEach(function (level) {
    fields[level].addEventListener("focus", function () { suggest(level); });
    fields[level].addEventListener("input", function () { suggest(level); });
  });
  fields.country.addEventListener("change", function () {
    ["state_region", "district", "township"].forEach(suggest);
  });
  ["state_region", "district", "township"].forEach(suggest);
})();
