// The interactive API docs: Swagger UI (vendored from npm) over the served OpenAPI document.
// No request leaves this server: no validator badge, no external spec, no CDN.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    onComplete: function () { root.dataset.loaded = "1"; }
  });
})();
