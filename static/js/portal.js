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

  // The server shows dates in the zone this cookie names when the user chose none (portal/i18n.py
  // validates it). Written only when it changed, so a traveller's next page follows them.
  function rememberTimeZone() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    if (!zone || document.cookie.split("; ").indexOf("tz=" + encodeURIComponent(zone)) !== -1) { return; }
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax" + secure;
  }

  rememberTimeZone();

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
