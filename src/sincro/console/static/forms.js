/* Sincro console: submit a filter form as soon as a control marked data-autosubmit changes. */
(function () {
  "use strict";
  document.querySelectorAll("[data-autosubmit]").forEach(function (control) {
    control.addEventListener("change", function () {
      if (control.form) {
        control.form.submit();
      }
    });
  });
})();
