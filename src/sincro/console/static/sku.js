/* Sincro console, SKU page: a city and free coordinates exclude each other. */
(function () {
  "use strict";
  var city = document.getElementById("city");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  if (!city || !lat || !lon) {
    return;
  }
  city.addEventListener("change", function () {
    if (city.value) {
      lat.value = "";
      lon.value = "";
    }
  });
  [lat, lon].forEach(function (input) {
    input.addEventListener("input", function () {
      if (input.value.trim()) {
        city.value = "";
      }
    });
  });
})();
