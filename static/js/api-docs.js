// The API reference (/api/v1/docs): Swagger UI, from our own static files, renders the OpenAPI
// document named by the container's data-spec-url. No inline script (the CSP forbids it).
(function () {
  'use strict';
  var container = document.getElementById('api-reference');
  if (!container || typeof window.SwaggerUIBundle !== 'function') {
    return;
  }
  window.SwaggerUIBundle({
    url: container.dataset.specUrl,
    domNode: container,
    deepLinking: true,
    // Never send the document to swagger.io's validator (no third party, and the CSP says so).
    validatorUrl: null,
    // Reading, not calling: "Try it out" would ask people to paste a token into a web page.
    supportedSubmitMethods: [],
    defaultModelsExpandDepth: 0,
  });
}());
