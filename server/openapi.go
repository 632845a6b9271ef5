package server

import (
	_ "embed"
	"net/http"
)

// openapi is the hand-written OpenAPI 3 description of the API.
//
//go:embed openapi.json
var openapi []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return openapi }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi)
}
