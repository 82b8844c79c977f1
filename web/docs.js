// Swagger UI on this service's own /openapi.json. Kept out of docs.html because the
// Content-Security-Policy admits no inline script.
"use strict";

(function () {
  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default sends the document to an outside validator: nothing leaves this origin.
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    onComplete: () => authorize(),
  });

  // "Try it out" works at once with the page's token: the tab's signed-in one, or in local
  // mode one the service mints for this machine. Neither is kept by Swagger UI.
  async function authorize() {
    let token = sessionStorage.getItem("pieces.token");
    if (!token) {
      try {
        const response = await fetch("/local/session", { method: "POST", credentials: "omit" });
        if (response.ok) token = (await response.json()).token;
      } catch {
        // Not local mode: the Authorize button is there.
      }
    }
    if (token) ui.preauthorizeApiKey("bearer", token);
  }
})();
