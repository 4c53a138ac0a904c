/* Starts swagger-ui (from npm, served under /static/vendor/swagger-ui) on the API documentation page. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({ url: root.getAttribute("data-spec-url"), domNode: root, deepLinking: true });
})();
