// Library page: progressive enhancement only; without this script the Search button applies the
// filters.
(function () {
  "use strict";

  // A filter takes effect as soon as it is changed: the search form is submitted at once.
  document.querySelectorAll("form[data-auto-submit]").forEach(function (form) {
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () {
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      });
    });
  });
})();
