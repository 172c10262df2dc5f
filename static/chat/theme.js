// Applies the theme the user chose (if any) before the first paint; otherwise the system's
// setting applies through CSS. Loaded as a file, not inline: the CSP forbids inline scripts.
(function () {
  "use strict";
  try {
    var theme = localStorage.getItem("theme");
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage blocked: follow the system setting */ }
})();
