//! `GET /openapi.json`: the OpenAPI 3 document of the REST routes, hand-written in
//! `openapi.json` next to this file and compiled in, so the served document is the reviewed
//! one. A test checks that it parses and names every REST route the routers serve.

use axum::{http::header, response::IntoResponse};

/// The document, as written.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Every REST route the routers serve, as OpenAPI paths; the test below keeps this list and the
/// document in step (the e2e test checks each one is really routed).
pub const REST_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/admin/sms/providers"),
    ("get", "/api/admin/sms/providers/{id}"),
    ("put", "/api/admin/sms/providers/{id}"),
    ("post", "/api/admin/sms/providers/{id}/activate"),
    ("post", "/api/admin/sms/providers/{id}/test"),
    ("get", "/api/admin/sms/statistics"),
    ("get", "/api/admin/sms/logs"),
    ("get", "/api/admin/sms/alerts"),
    ("post", "/internal/sms/send"),
    ("get", "/internal/sms/status/{token}"),
    ("get", "/internal/sms/balance"),
];

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_and_lists_every_rest_route() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for (method, path) in REST_ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is missing from openapi.json"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|ops| ops.as_object().unwrap().len())
            .sum();
        assert_eq!(
            documented,
            REST_ROUTES.len(),
            "a documented route is not served"
        );
    }
}
