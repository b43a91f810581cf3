//! What one request may ask for: the standard introspection query passes the limits, a mutation
//! holds at most 20 root fields, and a page costs its size.

use crate::helpers::*;
use serde_json::json;
use smsgate_actors::domain::Role;

/// graphql-js' `getIntrospectionQuery()`, as GraphiQL's documentation pane and every codegen tool
/// send it: by default, and with every option on.
const INTROSPECTION: [&str; 2] = [
    include_str!("introspection-default.graphql"),
    include_str!("introspection.graphql"),
];

#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    let api = spawn_api().await;
    for query in INTROSPECTION {
        let response = api.execute(Some(Role::Viewer), query, json!({})).await;
        let data = data(response);
        let types = data["__schema"]["types"].as_array().unwrap();
        assert!(
            types.iter().any(|t| t["name"] == "SendSmsInput"),
            "the schema's own types are listed"
        );
        assert_eq!(data["__schema"]["mutationType"]["name"], "Mutation");
    }
}

fn aliased_sends(count: usize) -> String {
    let fields: String = (0..count)
        .map(|i| {
            format!(
                "s{i}: sendSms(input: {{ to: \"+4075512{i:04}\", body: \"hi\" }}) {{ message {{ id }} }}\n"
            )
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

#[tokio::test]
async fn a_mutation_holds_at_most_20_root_fields_and_a_refused_one_sends_nothing() {
    let api = spawn_api().await;
    let data = data(
        api.execute(Some(Role::Admin), &aliased_sends(20), json!({}))
            .await,
    );
    assert_eq!(data.as_object().unwrap().len(), 20);
    assert_eq!(api.store.message_count(), 20);

    let response = api
        .execute(Some(Role::Admin), &aliased_sends(21), json!({}))
        .await;
    assert_eq!(
        error_code(&response),
        ("INVALID_INPUT".to_owned(), Some("query".to_owned()))
    );
    assert!(response.errors[0].message.contains("holds 21"));
    assert_eq!(api.store.message_count(), 20, "nothing of it ran");
    // Fragments do not hide fields from the count.
    let hidden = format!(
        "mutation {{ ...Sends }} fragment Sends on Mutation {}",
        &aliased_sends(21)["mutation ".len()..]
    );
    let response = api.execute(Some(Role::Admin), &hidden, json!({})).await;
    assert_eq!(error_code(&response).0, "INVALID_INPUT");
    assert_eq!(api.store.message_count(), 20);
}

#[tokio::test]
async fn a_page_costs_its_size_so_aliases_cannot_read_thousands_of_messages() {
    let api = spawn_api().await;
    // One full page with most of a message's fields is fine.
    let page = "{ messages(first: 100) { edges { cursor node { id to body type status provider \
                providerMessageId encoding segments cost attempts createdAt sentAt deliveredAt \
                expiresAt error { kind message } } } pageInfo { hasNextPage endCursor } } }";
    data(api.execute(Some(Role::Admin), page, json!({})).await);

    // 20 aliased pages of 100 ids (2,000 messages) cost 20 × 301: refused before running.
    let pages: String = (0..20)
        .map(|i| format!("p{i}: messages(first: 100) {{ edges {{ node {{ id }} }} }}\n"))
        .collect();
    let response = api
        .execute(Some(Role::Admin), &format!("{{ {pages} }}"), json!({}))
        .await;
    assert_eq!(error_code(&response).0, "INVALID_INPUT");
    assert!(
        response.errors[0].message.contains("too complex"),
        "{:?}",
        response.errors
    );
    // The size given through a variable counts the same (3 × 100 × 24).
    let response = api
        .execute(
            Some(Role::Admin),
            "query($n: Int) { a: messages(first: $n) { edges { node { id events { status at } } } } \
             b: messages(first: $n) { edges { node { id events { status at } } } } \
             c: messages(first: $n) { edges { node { id events { status at } } } } }",
            json!({ "n": 100 }),
        )
        .await;
    assert_eq!(error_code(&response).0, "INVALID_INPUT");
}
