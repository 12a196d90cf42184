// The ERN pattern editor (templates/ern_editor.html). The rules are logic/cases/ern.py's:
// the grammar comes from the page (ern.GRAMMAR), the example is the first item's number
// (item 1, batch 1, this year), formatted as Python's str.format does for {seq:04d}. The
// server checks the pattern again when the form is sent.
document.addEventListener("DOMContentLoaded", function () {
  var editor = document.getElementById("ern-editor");
  if (!editor) { return; }
  var pattern = document.getElementById(editor.dataset.for);
  var grammar = new RegExp(editor.dataset.grammar);
  var names = JSON.parse(editor.dataset.names);
  var values = { seq: 1, batch: 1, year: Number(editor.dataset.year) };
  var FIELD = /\{(seq|batch|year)(?::(?:(0?)([1-9]?)d)?)?\}/g;
  var byId = function (id) { return document.getElementById(id); };
  var builder = editor.querySelector(".ern-builder");
  var prefix = byId("ern-prefix"), separator = byId("ern-separator"), year = byId("ern-year"),
    batch = byId("ern-batch"), batchDigits = byId("ern-batch-digits"), seqDigits = byId("ern-seq-digits");

  function usable(text) {
    return text.length >= 1 && text.length <= 100 && grammar.test(text);
  }

  function example(text) {
    return text.replace(FIELD, function (_, name, zero, width) {
      var digits = String(values[name]);
      return width ? digits.padStart(Number(width), zero ? "0" : " ") : digits;
    });
  }

  function words(text) {
    return text.replace(FIELD, function (_, name, zero, width) {
      return "[" + names[name][zero && width ? Number(width) : 0] + "]";
    });
  }

  function show() {
    var text = pattern.value.trim();
    var ok = usable(text);
    byId("ern-example").textContent = ok ? example(text) : "—";
    byId("ern-words").textContent = ok ? words(text) : "—";
    var unusable = byId("ern-unusable");
    unusable.hidden = ok;
    unusable.textContent = ok ? "" : editor.dataset.unusable;
  }

  function build() {
    var sep = separator.value, parts = [];
    if (prefix.value.trim()) { parts.push(prefix.value.trim()); }
    if (year.checked) { parts.push("{year}"); }
    if (batch.checked) { parts.push("{batch:0" + batchDigits.value + "d}"); }
    parts.push("{seq:0" + seqDigits.value + "d}");
    pattern.value = parts.join(sep);
    show();
  }

  // Set the builder from the pattern when the pattern is one it can make.
  function read(text) {
    var seps = ["-", "/", ".", "_"];
    for (var i = 0; i < seps.length; i += 1) {
      var s = seps[i].replace(/[.\/\-]/g, "\\$&");
      var shape = new RegExp("^(?:([A-Za-z0-9_/.\\-]*?)" + s + ")?(\\{year\\}" + s + ")?" +
        "(?:\\{batch:0([1-9])d\\}" + s + ")?\\{seq:0([1-9])d\\}$");
      var match = shape.exec(text);
      if (match) {
        separator.value = seps[i];
        prefix.value = match[1] || "";
        year.checked = Boolean(match[2]);
        batch.checked = Boolean(match[3]);
        if (match[3]) { batchDigits.value = match[3]; }
        seqDigits.value = match[4];
        batchDigits.disabled = !batch.checked;
        return;
      }
    }
  }

  read(pattern.value.trim());
  builder.hidden = false;
  [prefix, separator, year, batch, batchDigits, seqDigits].forEach(function (control) {
    control.addEventListener("input", build);
    control.addEventListener("change", build);
  });
  batchDigits.disabled = !batch.checked;
  batch.addEventListener("change", function () { batchDigits.disabled = !batch.checked; });
  pattern.addEventListener("input", function () { read(pattern.value.trim()); show(); });
  show();
});
