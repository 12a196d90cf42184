// Upload each chosen file on its own through the API, with a progress bar per file.
// Without this script the form still works: the browser posts all files at once.
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var list = document.getElementById("upload-progress");
  var token = form.querySelector("input[name=csrf_token]").value;

  function sendOne(file, fields) {
    return new Promise(function (resolve) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      var bar = document.createElement("progress");
      label.textContent = file.name + " ";
      bar.max = 100; bar.value = 0;
      item.appendChild(label); item.appendChild(bar);
      list.appendChild(item);
      var body = new FormData();
      fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
      body.append("file", file, file.name);
      var request = new XMLHttpRequest();
      request.open("POST", form.dataset.api);
      request.setRequestHeader("X-CSRFToken", token);
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
      });
      request.addEventListener("load", function () {
        var result = {};
        try { result = JSON.parse(request.responseText); } catch (e) { result = {}; }
        bar.value = 100;
        item.className = request.status < 300 ? "done" : "failed";
        label.textContent = file.name + " — " + (request.status < 300
          ? result.ern + (request.status === 200 ? " (already in the case)" : "")
          : (result.error ? result.error.message : "failed (" + request.status + ")")) + " ";
        resolve();
      });
      request.addEventListener("error", function () {
        item.className = "failed";
        label.textContent = file.name + " — connection lost; choose the file again to retry ";
        resolve();
      });
      request.send(body);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files);
    var fields = [];
    ["description", "collected_by", "location", "source", "sensitivity"].forEach(function (name) {
      var input = form.elements[name];
      if (input && input.value) { fields.push([name, input.value]); }
    });
    files.reduce(function (chain, file) {
      return chain.then(function () { return sendOne(file, fields); });
    }, Promise.resolve()).then(function () { window.location.reload(); });
  });
})();
