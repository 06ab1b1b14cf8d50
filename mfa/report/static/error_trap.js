// Collects script errors into #js-errors, where readers and the Chromium test see them.
window.__mfaErrors = [];
(function () {
  function note(msg) {
    window.__mfaErrors.push(String(msg));
    var box = document.getElementById('js-errors');
    if (box) { box.textContent = window.__mfaErrors.join('\n'); }
  }
  window.addEventListener('error', function (e) { note('error: ' + (e.message || e)); });
  window.addEventListener('unhandledrejection', function (e) { note('unhandled rejection: ' + (e.reason || e)); });
  var original = console.error;
  console.error = function () { note('console.error: ' + Array.prototype.join.call(arguments, ' ')); original.apply(console, arguments); };
})();
