package streamapi

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the routes in New, kept in step
// with them by TestOpenAPICoversRoutes.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI answers GET /api/v1/openapi.json, without authentication:
// the document holds nothing but the API's shape.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}
