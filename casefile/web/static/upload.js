// Upload each chosen file on its own through the API, with a progress bar per file.
// Files larger than the form's data-tus-threshold (default 64 MiB) go through a resumable
// (tus) upload in 8 MiB slices: after a dropped connection the script waits (1 s, 2 s, 4 s,
// ... up to a minute), asks the server how much it holds (HEAD) and carries on from there.
// Choosing the same file again later, even after a reload, resumes it too.
// Without this script the form still works: the browser posts all files at once.
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var MIB = 1024 * 1024;
  var list = document.getElementById("upload-progress");
  var token = form.querySelector("input[name=csrf_token]").value;
  var threshold = Number(form.dataset.tusThreshold) || 64 * MIB;
  var tusUrl = form.dataset.tus || form.dataset.api.replace(/\/evidence$/, "/uploads");
  var itemUrl = form.dataset.api.replace(/\/cases\/[^/]+\/evidence$/, "/evidence/");
  // The page's language: the template puts the translated messages on the form.
  var messages = JSON.parse(form.dataset.messages || "{}");
  function say(key, values) {
    return (messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  function row(file) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    label.textContent = file.name + " ";
    bar.max = 100; bar.value = 0;
    item.appendChild(label); item.appendChild(bar);
    list.appendChild(item);
    return {
      progress: function (done, total) { bar.value = total ? Math.round(100 * done / total) : 100; },
      note: function (text) { label.textContent = file.name + " — " + text + " "; },
      end: function (ok, text) {
        if (ok) { bar.value = 100; }
        item.className = ok ? "done" : "failed";
        label.textContent = file.name + " — " + text + " ";
      }
    };
  }

  function errorText(status, body) {
    var result = {};
    try { result = JSON.parse(body); } catch (e) { result = {}; }
    return result.error ? result.error.message : say("failed", { status: status });
  }

  // One request; resolves with any HTTP answer, rejects only when the connection fails.
  function send(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var request = new XMLHttpRequest();
      request.open(method, url);
      request.timeout = method === "PATCH" ? 5 * 60 * 1000 : 0;  // a slice, not a whole file
      Object.keys(headers).forEach(function (name) { request.setRequestHeader(name, headers[name]); });
      if (onProgress) {
        request.upload.addEventListener("progress", function (event) { onProgress(event.loaded); });
      }
      request.addEventListener("load", function () {
        resolve({ status: request.status, body: request.responseText,
                  header: function (name) { return request.getResponseHeader(name); } });
      });
      request.addEventListener("error", reject);
      request.addEventListener("timeout", reject);
      request.send(body === undefined ? null : body);
    });
  }

  function sendOne(file, fields) {
    var view = row(file);
    var body = new FormData();
    fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    body.append("file", file, file.name);
    return send("POST", form.dataset.api, { "X-CSRFToken": token }, body, function (loaded) {
      view.progress(loaded, file.size);
    }).then(function (answer) {
      var result = {};
      try { result = JSON.parse(answer.body); } catch (e) { result = {}; }
      view.end(answer.status < 300, answer.status < 300
        ? result.ern + (answer.status === 200 ? " " + say("already") : "")
        : errorText(answer.status, answer.body));
    }, function () { view.end(false, say("retry")); });
  }

  function base64(text) {
    var bytes = new TextEncoder().encode(text), binary = "";
    bytes.forEach(function (byte) { binary += String.fromCharCode(byte); });
    return btoa(binary);
  }

  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function sendResumable(file, fields) {
    var view = row(file);
    var key = "casefile-tus " + tusUrl + " " + file.name + " " + file.size + " " + file.lastModified;
    var tus = { "Tus-Resumable": "1.0.0", "X-CSRFToken": token };
    var url = null, offset = 0, slice = 8 * MIB, delay = 1000;

    function headers(extra) { return Object.assign({}, tus, extra); }
    function remember(value) {
      try { if (value) { localStorage.setItem(key, value); } else { localStorage.removeItem(key); } }
      catch (e) { /* private browsing: resuming works within this page only */ }
    }
    function fail(answer) { throw new Error(errorText(answer.status, answer.body)); }

    function create() {
      var metadata = [["filename", file.name], ["filetype", file.type]].concat(fields)
        .filter(function (pair) { return pair[1]; })
        .map(function (pair) { return pair[0] + " " + base64(pair[1]); }).join(",");
      var created = headers({ "Upload-Length": String(file.size), "Upload-Metadata": metadata });
      return send("POST", tusUrl, created).then(function (answer) {
        if (answer.status !== 201) { fail(answer); }
        url = answer.header("Location");
        slice = Math.min(slice, Number(answer.header("X-Casefile-Max-Chunk-Size")) || slice);
        remember(url);
        return answer;
      });
    }

    function resume() {  // an upload of this file begun earlier, if the server still holds it
      var saved = null;
      try { saved = localStorage.getItem(key); } catch (e) { saved = null; }
      if (!saved) { return create(); }
      url = saved;
      return send("HEAD", url, tus).then(function (answer) {
        if (answer.status !== 200 || Number(answer.header("Upload-Length")) !== file.size) {
          return create();
        }
        offset = Number(answer.header("Upload-Offset"));
        return answer;
      });
    }

    function retry() {  // wait, then ask the server how much it holds and go on from there
      view.note(say("waiting", { seconds: delay / 1000 }));
      return wait(delay).then(function () {
        delay = Math.min(delay * 2, 60 * 1000);
        return send("HEAD", url, tus).then(function (answer) {
          if (answer.status >= 500) { return retry(); }
          if (answer.status !== 200) { fail(answer); }
          offset = Number(answer.header("Upload-Offset"));
          return step(answer);
        }, retry);
      });
    }

    function step(answer) {
      var item = answer.header("X-Casefile-Evidence");
      if (item) { return finished(item, answer.header("X-Casefile-Duplicate") === "true"); }
      view.progress(offset, file.size);
      if (offset >= file.size) { view.note(say("registering")); }
      var body = file.slice(offset, Math.min(offset + slice, file.size));
      var start = offset;
      return send("PATCH", url, headers({ "Upload-Offset": String(offset),
                                          "Content-Type": "application/offset+octet-stream" }),
                  body, function (loaded) { view.progress(start + loaded, file.size); })
        .then(function (next) {
          if (next.status === 204) {
            offset = Number(next.header("Upload-Offset"));
            if (offset === start && !next.header("X-Casefile-Evidence")) { return retry(); }
            delay = 1000;
            view.note(say("uploading"));
            return step(next);
          }
          if (next.status === 409 || next.status === 429 || next.status > 500) { return retry(); }
          fail(next);
        }, function () {
          slice = Math.max(slice / 2, 256 * 1024);  // a slow or flaky link: smaller slices
          return retry();
        });
    }

    function finished(item, duplicate) {
      remember(null);
      return send("GET", itemUrl + item, {}).then(function (answer) {
        var result = {};
        try { result = JSON.parse(answer.body); } catch (e) { result = {}; }
        view.end(true, (result.ern || item) + (duplicate ? " (already in the case)" : ""));
      }, function () { view.end(true, say("stored")); });
    }

    return resume().then(step).catch(function (error) {
      view.end(false, (error && error.message) || say("resume"));
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
      return chain.then(function () {
        return file.size > threshold ? sendResumable(file, fields) : sendOne(file, fields);
      });
    }, Promise.resolve()).then(function () { window.location.reload(); });
  });
})();
