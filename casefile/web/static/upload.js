// Upload each chosen file on its own through the API, with a progress bar per file that says
// how far it is (percent, and megabytes sent of the file's size).
// Files larger than the form's data-tus-threshold (default 64 MiB) go through a resumable
// (tus) upload in 8 MiB slices: after a dropped connection the script waits (1 s, 2 s, 4 s,
// ... up to a minute), asks the server how much it holds (HEAD) and carries on from there.
// Choosing the same file again later, even after a reload, resumes it too.
// The button is disabled while files are sent. When all are done, a summary stays on the page
// (files added, those already in the case with a link to each, those refused and why) and the
// list of items above is refreshed in place; the page does not reload.
// Fields with a length limit show a live count ("n / 20,000"), and say so when a paste was
// longer than the limit (the browser keeps only what fits).
// Without this script the form still works: the browser posts all files at once.
(function () {
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var MIB = 1024 * 1024;
  var MB = 1000 * 1000;
  var language = document.documentElement.lang || undefined;
  // The page's language: the template puts the translated messages on the form.
  var messages = JSON.parse(form.dataset.messages || "{}");
  var plurals = JSON.parse(form.dataset.plurals || "{}");
  function say(key, values) {
    return (messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }
  function sayCount(key, count) {  // English's two forms; Burmese has one
    var forms = plurals[key] || ["{num}"];
    return forms[count === 1 ? 0 : forms.length - 1].replace("{num}", number(count));
  }
  function number(value, digits) {
    try {
      return new Intl.NumberFormat(language, { minimumFractionDigits: digits || 0,
                                               maximumFractionDigits: digits || 0 }).format(value);
    } catch (e) { return digits ? value.toFixed(digits) : String(value); }
  }

  // Length limits: a live count under each limited field, and a word when a paste was cut.
  Array.prototype.forEach.call(form.querySelectorAll("textarea[maxlength], input[maxlength]"),
    function (input) {
      var limit = Number(input.getAttribute("maxlength"));
      var count = document.createElement("small");
      var cut = document.createElement("p");
      count.className = "hint counter";
      count.id = input.id + "-count";
      cut.className = "error";
      cut.hidden = true;
      cut.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", cut);
      input.insertAdjacentElement("afterend", count);
      input.setAttribute("aria-describedby",
                         ((input.getAttribute("aria-describedby") || "") + " " + count.id).trim());
      function show() {
        count.textContent = say("count", { count: number(input.value.length),
                                           limit: number(limit) });
        count.classList.toggle("full", input.value.length >= limit);
        // A one-line field shows its count only near its limit; a text area always does.
        count.hidden = input.tagName !== "TEXTAREA" && input.value.length < limit * 0.8;
      }
      input.addEventListener("input", show);
      input.addEventListener("paste", function (event) {
        var pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
        var kept = input.value.length - (input.selectionEnd - input.selectionStart);
        cut.hidden = kept + pasted.length <= limit;
        cut.textContent = say("cut", { limit: number(limit) });
      });
      show();
    });

  // Where the form is new, the time zone of "date and time collected" is the browser's.
  var offset = form.elements.collected_offset;
  if (offset && form.dataset.fresh) {
    var minutes = -new Date().getTimezoneOffset();
    var abs = Math.abs(minutes);
    var mine = (minutes < 0 ? "-" : "+") + String(Math.floor(abs / 60)).padStart(2, "0") + ":" +
      String(abs % 60).padStart(2, "0");
    if (Array.prototype.some.call(offset.options, function (o) { return o.value === mine; })) {
      offset.value = mine;
    }
  }

  if (!window.XMLHttpRequest || !window.FormData || !window.Promise) { return; }
  var list = document.getElementById("upload-progress");
  var summary = document.getElementById("upload-summary");
  var button = form.querySelector("button[type=submit]");
  var token = form.querySelector("input[name=csrf_token]").value;
  var threshold = Number(form.dataset.tusThreshold) || 64 * MIB;
  var tusUrl = form.dataset.tus || form.dataset.api.replace(/\/evidence$/, "/uploads");
  var itemUrl = form.dataset.api.replace(/\/cases\/[^/]+\/evidence$/, "/evidence/");
  var hashFields = [["declared_sha256", "sha256"], ["declared_sha1", "sha1"],
                    ["declared_md5", "md5"]];
  var SLICE = 8 * MIB;  // the server takes a PATCH of any size; a slice bounds a retry

  function row(file) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    var amount = document.createElement("span");
    label.textContent = file.name + " ";
    amount.className = "amount";
    bar.max = 100; bar.value = 0;
    item.appendChild(label); item.appendChild(bar); item.appendChild(amount);
    list.appendChild(item);
    return {
      progress: function (done, total) {
        var percent = total ? Math.floor(100 * Math.min(done, total) / total) : 100;
        bar.value = percent;
        amount.textContent = " " + say("progress", {
          percent: number(percent), done: number(Math.min(done, total) / MB, 1),
          total: number(total / MB, 1) });
      },
      note: function (text) { label.textContent = file.name + " — " + text + " "; },
      end: function (ok, text) {
        if (ok) { this.progress(file.size, file.size); }
        item.className = ok ? "done" : "failed";
        label.textContent = file.name + " — " + text + " ";
      }
    };
  }

  function parse(body) {
    try { return JSON.parse(body) || {}; } catch (e) { return {}; }
  }

  function errorText(status, body) {
    var result = parse(body);
    return result.error ? result.error.message : say("failed", { status: status });
  }

  // A refusal of the form's fields (not of one file): shown next to the fields, and the
  // remaining files are not sent. Returns whether it was one.
  function fieldErrors(status, body) {
    var fields = status === 422 && parse(body).error ? parse(body).error.fields || {} : {};
    var shown = false;
    Object.keys(fields).forEach(function (name) {
      var target = name;
      if (name === "file") { return; }  // about this file, not the form
      if (name === "declared_hashes") {
        target = "declared_sha256";
        hashFields.forEach(function (pair) {
          if (fields[name].indexOf(pair[1] + " ") === 0) { target = pair[0]; }
        });
      }
      var input = form.elements[target];
      if (!input || !input.closest) { return; }
      var box = input.closest(".field");
      var error = document.createElement("p");
      error.className = "error field-error";
      error.setAttribute("role", "alert");
      error.textContent = fields[name];
      box.classList.add("invalid");
      box.appendChild(error);
      input.setAttribute("aria-invalid", "true");
      shown = true;
    });
    return shown;
  }

  function clearFieldErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (error) {
      var box = error.closest(".field");
      box.classList.remove("invalid");
      box.querySelectorAll("[aria-invalid]").forEach(function (input) {
        input.setAttribute("aria-invalid", "false");
      });
      error.remove();
    });
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

  // What became of each file: {file, outcome: added|repeated|refused|stopped, item, ern, why}.
  function sendOne(file, fields) {
    var view = row(file);
    view.progress(0, file.size);
    var body = new FormData();
    fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
    body.append("file", file, file.name);  // after the fields: declared digests come first
    return send("POST", form.dataset.api, { "X-CSRFToken": token }, body, function (loaded) {
      view.progress(loaded, file.size);
    }).then(function (answer) {
      var result = parse(answer.body);
      if (answer.status < 300) {
        view.end(true, result.ern + (answer.status === 200 ? " " + say("already") : ""));
        return { file: file, outcome: answer.status === 200 ? "repeated" : "added",
                 item: result.id, ern: result.ern };
      }
      var why = errorText(answer.status, answer.body);
      view.end(false, why);
      return { file: file, outcome: fieldErrors(answer.status, answer.body) ? "stopped" : "refused",
               why: why };
    }, function () {
      view.end(false, say("retry"));
      return { file: file, outcome: "refused", why: say("retry") };
    });
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
    var url = null, offset = 0, slice = SLICE, delay = 1000;

    function headers(extra) { return Object.assign({}, tus, extra); }
    function remember(value) {
      try { if (value) { localStorage.setItem(key, value); } else { localStorage.removeItem(key); } }
      catch (e) { /* private browsing: resuming works within this page only */ }
    }
    function fail(answer) {
      var error = new Error(errorText(answer.status, answer.body));
      error.fields = fieldErrors(answer.status, answer.body);
      throw error;
    }

    function create() {
      var metadata = [["filename", file.name], ["filetype", file.type]].concat(fields)
        .filter(function (pair) { return pair[1]; })
        .map(function (pair) { return pair[0] + " " + base64(pair[1]); }).join(",");
      var created = headers({ "Upload-Length": String(file.size), "Upload-Metadata": metadata });
      return send("POST", tusUrl, created).then(function (answer) {
        if (answer.status !== 201) { fail(answer); }
        url = answer.header("Location");
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
        var result = parse(answer.body);
        view.end(true, (result.ern || item) + (duplicate ? " " + say("already") : ""));
        return { file: file, outcome: duplicate ? "repeated" : "added", item: item,
                 ern: result.ern || item };
      }, function () {
        view.end(true, say("stored"));
        return { file: file, outcome: duplicate ? "repeated" : "added", item: item, ern: item };
      });
    }

    return resume().then(step).catch(function (error) {
      var why = (error && error.message) || say("resume");
      view.end(false, why);
      return { file: file, outcome: error && error.fields ? "stopped" : "refused", why: why };
    });
  }

  // The summary that stays: how many were added, those already in the case (each a link to
  // its item), those refused with the reason.
  function showSummary(results) {
    var added = results.filter(function (r) { return r.outcome === "added"; });
    var repeated = results.filter(function (r) { return r.outcome === "repeated"; });
    var refused = results.filter(function (r) { return r.outcome === "refused"; });
    var stopped = results.some(function (r) { return r.outcome === "stopped"; });
    summary.textContent = "";
    summary.className = "flash " + (refused.length || stopped ? "error" : "success");
    summary.setAttribute("role", "status");
    if (stopped) {
      var note = document.createElement("p");
      note.textContent = say("fields");
      summary.appendChild(note);
    }
    if (added.length || !stopped) {
      var first = document.createElement("p");
      first.textContent = sayCount("added", added.length);
      summary.appendChild(first);
    }
    function part(key, entries, fill) {
      if (!entries.length) { return; }
      var text = document.createElement("p");
      var items = document.createElement("ul");
      text.textContent = sayCount(key, entries.length);
      entries.forEach(function (entry) {
        var li = document.createElement("li");
        fill(li, entry);
        items.appendChild(li);
      });
      summary.appendChild(text);
      summary.appendChild(items);
    }
    part("repeated", repeated, function (li, entry) {
      var link = document.createElement("a");
      link.href = itemUrl.replace(/^\/api\/v1/, "") + entry.item;
      link.className = "ern";
      link.textContent = entry.ern;
      li.appendChild(document.createTextNode(entry.file.name + " — "));
      li.appendChild(link);
    });
    part("refused", refused, function (li, entry) {
      li.textContent = entry.file.name + ": " + entry.why;
    });
  }

  // The items above, as they are now, without leaving the page (the summary stays).
  function refreshItems() {
    var target = document.getElementById("evidence-items");
    if (!target || !window.fetch || !window.DOMParser) { return Promise.resolve(); }
    return fetch(window.location.href, { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html")
        .getElementById("evidence-items");
      if (fresh) { target.replaceWith(fresh); }
    }, function () { /* the summary still says what happened */ });
  }

  function fieldsOf() {
    var fields = [];
    ["title", "description", "collected_by", "location", "source", "language", "sensitivity"]
      .forEach(function (name) {
        var input = form.elements[name];
        if (input && input.value) { fields.push([name, input.value]); }
      });
    var when = form.elements.collected_at;
    if (when && when.value) {
      fields.push(["collected_at", when.value + form.elements.collected_offset.value]);
    }
    var declared = hashFields.map(function (pair) {
      var input = form.elements[pair[0]];
      var value = input ? input.value.replace(/\s+/g, "").toLowerCase() : "";
      return value ? pair[1] + ":" + value : "";
    }).filter(Boolean);
    if (declared.length) { fields.push(["declared_hashes", declared.join(",")]); }
    return fields;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) { return; }
    var input = form.querySelector("input[type=file]");
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) { form.submit(); return; }  // the server says what is missing
    var fields = fieldsOf();
    var results = [];
    clearFieldErrors();
    list.textContent = "";
    summary.textContent = "";
    summary.className = "";
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    files.reduce(function (chain, file) {
      return chain.then(function () {
        if (results.some(function (r) { return r.outcome === "stopped"; })) { return; }
        return (file.size > threshold ? sendResumable(file, fields) : sendOne(file, fields))
          .then(function (result) { results.push(result); });
      });
    }, Promise.resolve()).then(function () {
      showSummary(results);
      if (results.some(function (r) { return r.outcome === "added"; })) { input.value = ""; }
      return refreshItems();
    }).then(function () {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    });
  });
})();
