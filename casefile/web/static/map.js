/* The case map (templates/case_map.html): the points of the list #map-points drawn on a
   Leaflet map (static/vendor/leaflet/). The list is the source: each item carries its
   data-lat, data-lon and data-kind, and its popup is a copy of the item's own link and date,
   so the map and the list always agree, and a page without scripts still shows every point.
   With no tile server configured (data-tile-url empty), the map draws the country borders
   shipped with Casefile (data-outline) and asks no other server for anything. */
(function () {
  "use strict";

  var holder = document.getElementById("map");
  if (!holder || typeof L === "undefined") {
    return;
  }
  var MYANMAR = [[9.5, 92.1], [28.6, 101.2]];
  var COLOURS = { incident: "#b3261e", evidence: "#0b57d0" };

  function text(value) {
    // Leaflet's attribution is HTML; the configured text is shown as text.
    var box = document.createElement("span");
    box.textContent = value;
    return box.innerHTML;
  }

  holder.hidden = false;
  var map = L.map(holder, { zoomSnap: 0.5, worldCopyJump: false });
  map.attributionControl.setPrefix("Leaflet");

  var tileUrl = holder.getAttribute("data-tile-url");
  if (tileUrl) {
    L.tileLayer(tileUrl, {
      attribution: text(holder.getAttribute("data-attribution") || ""),
      maxZoom: 19,
    }).addTo(map);
  } else {
    map.attributionControl.addAttribution(text(holder.getAttribute("data-borders") || ""));
    fetch(holder.getAttribute("data-outline"), { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (outline) {
        if (outline) {
          L.geoJSON(outline, {
            interactive: false,
            style: { color: "#6b6b6b", weight: 1, fillColor: "#f3f0e6", fillOpacity: 1 },
          }).addTo(map).bringToBack();
        }
        holder.setAttribute("data-outline-drawn", outline ? "yes" : "no");
      })
      .catch(function () {
        holder.setAttribute("data-outline-drawn", "no");
      });
  }

  var items = document.querySelectorAll("#map-points li[data-lat]");
  var bounds = [];
  Array.prototype.forEach.call(items, function (item) {
    var lat = parseFloat(item.getAttribute("data-lat"));
    var lon = parseFloat(item.getAttribute("data-lon"));
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return;
    }
    var kind = item.getAttribute("data-kind");
    var popup = document.createElement("div");
    popup.className = "map-popup";
    Array.prototype.forEach.call(
      item.querySelectorAll(".point-link, .point-kind, .point-date"),
      function (part) {
        var line = document.createElement("div");
        line.appendChild(part.cloneNode(true));
        popup.appendChild(line);
      }
    );
    var colour = COLOURS[kind] || "#333333";
    L.circleMarker([lat, lon], {
      radius: kind === "incident" ? 9 : 7,
      color: "#ffffff",
      weight: 2,
      fillColor: colour,
      fillOpacity: 0.9,
      className: "map-point map-point-" + kind,
    })
      .bindPopup(popup)
      .addTo(map);
    bounds.push([lat, lon]);
  });

  if (bounds.length) {
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 12 });
  } else {
    map.fitBounds(MYANMAR);
  }
  holder.setAttribute("data-points", String(bounds.length));
})();
