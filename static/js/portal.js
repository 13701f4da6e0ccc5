// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";

  // Registration: show the NPI field for the United States, the licence field elsewhere.
  function syncCountryFields(form) {
    var country = form.querySelector("select[name=country]");
    if (!country) { return; }
    var isUS = country.value === "US";
    var chosen = country.value !== "";
    form.querySelectorAll("[data-show-for-country]").forEach(function (el) {
      el.hidden = chosen && !isUS;
    });
    form.querySelectorAll("[data-hide-for-country]").forEach(function (el) {
      el.hidden = chosen && isUS;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var registration = document.getElementById("registration-form");
    if (registration) {
      syncCountryFields(registration);
      registration.addEventListener("change", function (event) {
        if (event.target && event.target.name === "country") { syncCountryFields(registration); }
      });
    }
  });
})();
