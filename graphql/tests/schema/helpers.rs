//! The test harness: an engine on in-memory fakes, the schema over it, and typed helpers.

use async_graphql::{Request, Response, Variables};
use futures::{stream::BoxStream, Stream, StreamExt};
use serde_json::{json, Value};
use smsgate_actors::domain::{Caller, Role};
use smsgate_actors::{
    domain::{MessageId, MessageStatus},
    ports::Store,
    test_support::{
        fast_config, provider_config, start_engine, wait_for_status, MemoryStore, ScriptedFactory,
        ScriptedProvider,
    },
    Engine,
};
use smsgate_graphql::{build_schema, SmsSchema, CODES};
use std::{sync::Arc, time::Duration};

/// How long any one awaited event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SEND: &str = r#"
    mutation Send($input: SendSmsInput!) {
        sendSms(input: $input) { message { id to status type encoding segments provider } }
    }"#;

pub const MESSAGE: &str = r#"
    query Message($id: ID!) {
        message(id: $id) {
            id to body type status provider providerMessageId encoding segments cost attempts
            error { kind message }
            createdAt sentAt deliveredAt expiresAt
            events { status at provider error { kind message } }
        }
    }"#;

pub struct TestApi {
    pub schema: SmsSchema,
    pub engine: Engine,
    pub store: Arc<MemoryStore>,
    /// The default provider, slug `mock`; absent from `spawn_api_without_providers`.
    pub mock: Option<Arc<ScriptedProvider>>,
    /// Builds providers by slug: register one before creating a provider with that slug.
    pub factory: Arc<ScriptedFactory>,
}

/// An API whose only provider is `mock` (the default), which accepts at 1 cent per part and
/// delivers at once.
pub async fn spawn_api() -> TestApi {
    spawn_api_with(&["mock"]).await
}

pub async fn spawn_api_without_providers() -> TestApi {
    spawn_api_with(&[]).await
}

/// An API with these providers, the first the default, in priority order.
pub async fn spawn_api_with(slugs: &[&str]) -> TestApi {
    let store = MemoryStore::new();
    let factory = ScriptedFactory::new();
    let mut mock = None;
    for (i, slug) in slugs.iter().enumerate() {
        let provider = factory.register(slug);
        if i == 0 {
            mock = Some(provider);
        }
        let cfg = provider_config(slug, i == 0, i32::try_from(i).unwrap());
        store.insert_provider(&cfg).await.unwrap();
    }
    let engine = start_engine(store.clone(), factory.clone(), fast_config()).await;
    TestApi {
        schema: build_schema(engine.clone()),
        engine,
        store,
        mock,
        factory,
    }
}

pub fn caller(role: Role) -> Caller {
    Caller {
        name: format!("{role:?}").to_lowercase(),
        role,
    }
}

impl TestApi {
    pub fn mock(&self) -> &ScriptedProvider {
        self.mock.as_deref().expect("this API has no provider")
    }

    /// Runs a query as `role` (or anonymously with `None`).
    pub async fn execute(&self, role: Option<Role>, query: &str, variables: Value) -> Response {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        if let Some(role) = role {
            request = request.data(caller(role));
        }
        self.schema.execute(request).await
    }

    /// Runs a query as admin and returns its data; fails the test on any error.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        data(self.execute(Some(Role::Admin), query, variables).await)
    }

    /// Sends through `sendSms` as admin; returns the message id.
    pub async fn send(&self, input: Value) -> String {
        let data = self.admin(SEND, json!({ "input": input })).await;
        data["sendSms"]["message"]["id"]
            .as_str()
            .expect("sendSms returned an id")
            .to_owned()
    }

    pub async fn wait_for(&self, id: &str, status: MessageStatus) {
        wait_for_status(&self.engine, &MessageId::parse(id).unwrap(), status).await;
    }

    pub async fn message(&self, id: &str) -> Value {
        self.admin(MESSAGE, json!({ "id": id })).await["message"].clone()
    }

    /// Opens a subscription as `role` and polls it once, which runs the resolver: from then on
    /// the subscription is registered with the engine's update bus and misses no change.
    pub async fn subscribe(
        &self,
        role: Role,
        query: &str,
        variables: Value,
    ) -> BoxStream<'static, Response> {
        let request = Request::new(query)
            .variables(Variables::from_json(variables))
            .data(caller(role));
        let mut stream = self.schema.execute_stream(request);
        let first = futures::poll!(stream.next());
        assert!(
            first.is_pending(),
            "the subscription answered before any change: {:?}",
            first.map(|r| r.map(|r| r.errors))
        );
        stream
    }
}

/// The data of a response that must have no errors.
pub fn data(response: Response) -> Value {
    assert!(
        response.errors.is_empty(),
        "unexpected errors: {:?}",
        response.errors
    );
    response.data.into_json().unwrap()
}

/// `(code, field)` of the single error of a response; every code must be one of the contract's.
pub fn error_code(response: &Response) -> (String, Option<String>) {
    assert_eq!(
        response.errors.len(),
        1,
        "expected one error: {:?}",
        response.errors
    );
    let ext = serde_json::to_value(&response.errors[0].extensions).unwrap();
    let code = ext["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        CODES.contains(&code.as_str()),
        "{code:?} is not a contract code: {:?}",
        response.errors
    );
    (code, ext["field"].as_str().map(str::to_owned))
}

/// The next item of a stream, failing the test after `WAIT`.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("timed out waiting for the next item")
}

pub fn send_input(to: &str, body: &str) -> Value {
    json!({ "to": to, "body": body })
}
