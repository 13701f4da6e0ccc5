// Question pages: progressive enhancement only; every form works without this script.
(function () {
  "use strict";

  // A live "n / max characters" under text areas that name their counter in data-counter.
  function bindCounter(area) {
    var counter = document.getElementById(area.getAttribute("data-counter"));
    if (!counter) { return; }
    var max = parseInt(counter.getAttribute("data-max") || area.getAttribute("maxlength"), 10);
    var format = function (n) { return n.toLocaleString("en-US"); };
    var update = function () {
      var used = area.value.length;
      counter.textContent = format(used) + " / " + format(max) + " characters";
      counter.classList.toggle("near-limit", used >= max * 0.9);
    };
    area.addEventListener("input", update);
    update();
  }

  // At most data-max-checked boxes in a fieldset: the others are disabled once the cap is hit.
  function bindCap(fieldset) {
    var max = parseInt(fieldset.getAttribute("data-max-checked"), 10);
    var boxes = fieldset.querySelectorAll("input[type=checkbox]");
    var update = function () {
      var checked = fieldset.querySelectorAll("input[type=checkbox]:checked").length;
      boxes.forEach(function (box) { box.disabled = !box.checked && checked >= max; });
    };
    fieldset.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-counter]").forEach(bindCounter);
    document.querySelectorAll("fieldset[data-max-checked]").forEach(bindCap);
  });
})();
