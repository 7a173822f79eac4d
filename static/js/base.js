// Behaviour every office page shares, kept out of the HTML (the Content-Security-Policy allows no
// inline scripts or handlers).
(function () {
  "use strict";

  function apply(root) {
    // Progress bars say their width in data-percent; set through the CSSOM, which the CSP allows.
    root.querySelectorAll("[data-percent]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.percent) || 0)) + "%";
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change") && target.form) {
      target.form.submit();
    }
  });
  document.addEventListener("DOMContentLoaded", function () { apply(document); });
  document.addEventListener("htmx:afterSettle", function (event) { apply(document); });
})();
