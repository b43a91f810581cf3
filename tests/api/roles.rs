//! Named tokens and roles: each role against each operation, on GraphQL and REST (a table), and
//! a revoked token refused at its next request without a restart.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use smsgate::http::auth::Role;

/// One operation and the roles that may do it.
struct Op {
    name: &'static str,
    allowed: &'static [Role],
    call: Call,
}

enum Call {
    Graphql(&'static str),
    Public(Method, &'static str, Option<Value>),
    Internal(Method, &'static str, Option<Value>),
}

const ADMIN_ONLY: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Viewer];
const SENDERS: &[Role] = &[Role::Admin, Role::Service];
const EVERYONE: &[Role] = &[Role::Admin, Role::Service, Role::Viewer];

fn operations() -> Vec<Op> {
    use Call::*;
    vec![
        Op {
            name: "graphql sendSms",
            allowed: SENDERS,
            call: Graphql(
                r#"mutation { sendSms(input: {to: "0755123456", body: "x"}) { message { id } } }"#,
            ),
        },
        Op {
            name: "graphql messages",
            allowed: EVERYONE,
            call: Graphql("{ messages(first: 1) { edges { cursor } } }"),
        },
        Op {
            name: "graphql providers",
            allowed: READERS,
            call: Graphql("{ providers { slug } }"),
        },
        Op {
            name: "graphql statistics",
            allowed: READERS,
            call: Graphql(r#"{ statistics(from: "2026-01-01", to: "2026-01-02") { day } }"#),
        },
        Op {
            name: "graphql updateProvider",
            allowed: ADMIN_ONLY,
            call: Graphql(
                r#"mutation { updateProvider(id: "mock", input: {priority: 5}) { slug } }"#,
            ),
        },
        Op {
            name: "graphql activateProvider",
            allowed: ADMIN_ONLY,
            call: Graphql(r#"mutation { activateProvider(id: "mock") { slug } }"#),
        },
        Op {
            name: "REST list providers",
            allowed: READERS,
            call: Public(Method::GET, "/api/admin/sms/providers", None),
        },
        Op {
            name: "REST show provider",
            allowed: READERS,
            call: Public(Method::GET, "/api/admin/sms/providers/mock", None),
        },
        Op {
            name: "REST update provider",
            allowed: ADMIN_ONLY,
            call: Public(
                Method::PUT,
                "/api/admin/sms/providers/mock",
                Some(json!({ "priority": 5 })),
            ),
        },
        Op {
            name: "REST activate provider",
            allowed: ADMIN_ONLY,
            call: Public(Method::POST, "/api/admin/sms/providers/mock/activate", None),
        },
        Op {
            name: "REST test provider",
            allowed: ADMIN_ONLY,
            call: Public(
                Method::POST,
                "/api/admin/sms/providers/mock/test",
                Some(json!({ "phone_number": "0755123456" })),
            ),
        },
        Op {
            name: "REST statistics",
            allowed: READERS,
            call: Public(Method::GET, "/api/admin/sms/statistics", None),
        },
        Op {
            name: "REST logs",
            allowed: READERS,
            call: Public(Method::GET, "/api/admin/sms/logs", None),
        },
        Op {
            name: "REST internal send",
            allowed: SENDERS,
            call: Internal(
                Method::POST,
                "/internal/sms/send",
                Some(json!({ "phone_number": "0755123456", "message": "x" })),
            ),
        },
        Op {
            name: "REST internal status",
            allowed: SENDERS,
            call: Internal(Method::GET, "/internal/sms/status/msg_unknown", None),
        },
        Op {
            name: "REST internal balance",
            allowed: SENDERS,
            call: Internal(Method::GET, "/internal/sms/balance", None),
        },
    ]
}

/// Whether the call was refused for the caller's role.
async fn forbidden(app: &TestApp, token: &str, call: &Call) -> bool {
    match call {
        Call::Graphql(query) => {
            let answer = app.graphql_as(Some(token), query, json!({})).await;
            let code = answer["errors"][0]["extensions"]["code"].as_str();
            assert_ne!(code, Some("UNAUTHENTICATED"), "{answer}");
            code == Some("FORBIDDEN")
        }
        Call::Public(method, path, body) | Call::Internal(method, path, body) => {
            let url = match call {
                Call::Internal(..) => app.internal_url(path),
                _ => app.url(path),
            };
            let mut request = app.client.request(method.clone(), url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert_ne!(status, 401, "{path}");
            if status == 403 {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "FORBIDDEN");
            }
            status == 403
        }
    }
}

#[tokio::test]
async fn each_role_may_do_exactly_its_operations_on_graphql_and_rest() {
    let app = spawn_app().await;
    let mut mismatches = Vec::new();
    for role in [Role::Admin, Role::Service, Role::Viewer] {
        let token = app
            .create_token(&format!("{}-app", role.as_str()), role)
            .await;
        for op in operations() {
            let refused = forbidden(&app, &token, &op.call).await;
            let expected_refused = !op.allowed.contains(&role);
            if refused != expected_refused {
                mismatches.push(format!(
                    "{} as {}: {}",
                    op.name,
                    role.as_str(),
                    if refused { "refused" } else { "allowed" }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[tokio::test]
async fn a_revoked_token_gets_401_at_its_next_request_without_a_restart() {
    let app = spawn_app().await;
    let token = app.create_token("dashboard", Role::Viewer).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/admin/sms/providers"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(list(token.clone()).await.status(), 200);
    let answer = app
        .graphql_as(Some(&token), "{ providers { slug } }", json!({}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");

    app.revoke_token("dashboard").await;
    let refused = list(token.clone()).await;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    let graphql = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ providers { slug } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 401);
    // The bootstrap tokens still work beside the named ones.
    assert_eq!(list(ADMIN.to_owned()).await.status(), 200);
    assert_eq!(list("sgt_not-a-token".to_owned()).await.status(), 401);
}
