//! Parsed queries kept by their text, so a client that sends the same query over and over (every
//! `sendSms` caller does) does not pay for parsing it each time.
//!
//! Parsing took about a sixth of the instructions of a whole `sendSms` request, more than the
//! store's insert. Only documents that parsed and passed the depth and directive limits are
//! kept, and each request still gets its own copy to validate and run, so answers are exactly
//! those of an uncached schema. Bounded: at most `MAX_ENTRIES` texts of up to `MAX_QUERY_LEN`
//! bytes; when full it starts over, so many distinct queries cost what they cost without it.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Distinct query texts kept; a deployment's clients send a handful.
pub const MAX_ENTRIES: usize = 256;
/// Longer texts are parsed every time: rare, and they would make the cache's memory unbounded.
pub const MAX_QUERY_LEN: usize = 8 * 1024;

/// Add to the schema with `.extension(ParseCache::default())`; clones share the entries.
#[derive(Clone, Default)]
pub struct ParseCache {
    /// Handed to every request as its extension: nothing is allocated per request.
    shared: Arc<Entries>,
}

#[derive(Default)]
struct Entries(Mutex<HashMap<Box<str>, ExecutableDocument>>);

impl ParseCache {
    /// How many query texts are kept now.
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, ExecutableDocument>> {
        // A panic while holding it cannot leave a half-written entry: a map insert is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ExtensionFactory for ParseCache {
    fn create(&self) -> Arc<dyn Extension> {
        self.shared.clone()
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Entries {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self.lock().get(query) {
            return Ok(document.clone());
        }
        let document = next.run(ctx, query, variables).await?;
        if query.len() <= MAX_QUERY_LEN {
            let mut entries = self.lock();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(query.into(), document.clone());
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    struct Root;

    #[Object]
    impl Root {
        async fn greet(&self, name: String) -> String {
            format!("hello {name}")
        }
    }

    fn schema(cache: &ParseCache) -> Schema<Root, EmptyMutation, EmptySubscription> {
        Schema::build(Root, EmptyMutation, EmptySubscription)
            .limit_recursive_depth(8)
            .extension(cache.clone())
            .finish()
    }

    #[tokio::test]
    async fn a_repeated_query_answers_the_same_with_each_requests_own_variables() {
        let cache = ParseCache::default();
        let schema = schema(&cache);
        let query = "query($n: String!) { greet(name: $n) }";
        for name in ["ana", "ion", "ana"] {
            let request = async_graphql::Request::new(query)
                .variables(Variables::from_json(serde_json::json!({ "n": name })));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            assert_eq!(
                response.data.into_json().ok(),
                Some(serde_json::json!({ "greet": format!("hello {name}") }))
            );
        }
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn queries_that_fail_to_parse_or_exceed_a_limit_fail_every_time_and_are_not_kept() {
        let cache = ParseCache::default();
        let schema = schema(&cache);
        // Nested deeper than the schema's recursion limit: it parses, then fails that check.
        let deep = format!(
            "{{ {}greet(name: \"x\"){} }}",
            "... on Root { ".repeat(20),
            " }".repeat(20)
        );
        for query in ["{ greet(name: ", deep.as_str()] {
            for _ in 0..2 {
                let response = schema.execute(query).await;
                assert!(!response.errors.is_empty(), "{query} was accepted");
            }
        }
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn it_never_keeps_more_than_its_bound() {
        let cache = ParseCache::default();
        let schema = schema(&cache);
        for i in 0..MAX_ENTRIES + 3 {
            let query = format!("{{ greet(name: \"{i}\") }}");
            assert!(schema.execute(query.as_str()).await.errors.is_empty());
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert_eq!(cache.len(), 3, "it started over once full");
        let long = format!("{{ greet(name: \"{}\") }}", "x".repeat(MAX_QUERY_LEN));
        assert!(schema.execute(long.as_str()).await.errors.is_empty());
        assert_eq!(cache.len(), 3, "a long text is not kept");
    }
}
