// Added to the admin's page by the mount: after logging in, Piccolo Admin goes to the route in
// `nextURL` inside its own app; `/dashboard/` is a page of ours, so go there for real. The
// admin's router moves with history.pushState, which fires no event: watch it directly.
(function () {
  function back() {
    if (window.location.hash.indexOf("#/dashboard") === 0) {
      window.location.replace("/dashboard/");
    }
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = window.history[name];
    window.history[name] = function () {
      var result = original.apply(this, arguments);
      back();
      return result;
    };
  });
  window.addEventListener("hashchange", back);
  // And a look every quarter second, for a navigation made any other way.
  window.setInterval(back, 250);
  back();
})();
