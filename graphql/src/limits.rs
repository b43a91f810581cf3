//! What one request may ask for: how deep it nests, what it costs (a page costs its size times
//! what each of its items selects), and how many root fields (aliases) one operation holds.
//! Everything here is checked before any resolver runs, so a refused request does nothing.

use crate::error::ApiError;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Pos, ServerError, ServerResult, Variables};
use std::{collections::HashSet, sync::Arc};

/// Deepest query accepted. Our own types nest at most 6 deep
/// (`messages.edges.node.events.error.kind`); the standard introspection query that GraphiQL,
/// graphql-js and codegen tools send nests 13 deep through `__Type.ofType`, and must pass.
pub const MAX_DEPTH: usize = 16;

/// Most a query may cost: each selected field costs 1, and a list field costs its page size
/// times what one item selects (`messages(first: 100) { edges { node { id } } }` costs about
/// 300). Sized for a full page of messages with most of their fields (≈2,000) and the standard
/// introspection query (≈300), and so that one request cannot read more than a few thousand
/// messages whatever it aliases.
pub const MAX_COMPLEXITY: usize = 5_000;

/// What a list of events costs per event selected: a message carries a handful (one per status
/// change), rarely more than a dozen.
pub const EVENTS_PER_MESSAGE: usize = 10;

/// The cost of a page: `first` items (or `default` when not given) times what each selects, plus
/// the field itself. A value outside the field's bounds still gets a cost (the resolver refuses
/// it with INVALID_INPUT); saturating, so no value can wrap the sum around.
pub fn page_cost(first: Option<i32>, default: i32, child_complexity: usize) -> usize {
    let items = usize::try_from(first.unwrap_or(default).max(1)).unwrap_or(1);
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// How many root fields one operation may hold: every alias of `sendSms` is a send, so a
/// mutation holds at most `mutation_fields` of them (default 20); queries and subscriptions at
/// most `query_fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootFieldLimits {
    pub mutation_fields: usize,
    pub query_fields: usize,
}

impl Default for RootFieldLimits {
    fn default() -> Self {
        Self {
            mutation_fields: 20,
            query_fields: 50,
        }
    }
}

impl ExtensionFactory for RootFieldLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RootFieldLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.check(&document)?;
        Ok(document)
    }
}

impl RootFieldLimits {
    /// Refuses the document when one of its operations holds more root fields than allowed
    /// (fragments spread at the root count with what they select).
    pub fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        for (_, operation) in document.operations.iter() {
            let (limit, kind) = match operation.node.ty {
                OperationType::Mutation => (self.mutation_fields, "a mutation"),
                OperationType::Query => (self.query_fields, "a query"),
                OperationType::Subscription => (self.query_fields, "a subscription"),
            };
            let mut seen = HashSet::new();
            let count = root_fields(document, &operation.node.selection_set.node, &mut seen);
            if count > limit {
                let error = ApiError::invalid(
                    "query",
                    format!(
                        "{kind} may hold at most {limit} root fields (aliases included); this one \
                         holds {count}: split it into several requests"
                    ),
                );
                return Err(error.extend().into_server_error(operation.pos));
            }
        }
        Ok(())
    }
}

/// Root fields a selection set holds, fragments expanded; a fragment spread twice counts once
/// (GraphQL merges its fields), and a cycle (refused later by validation) cannot loop.
fn root_fields<'d>(
    document: &'d ExecutableDocument,
    selection_set: &'d SelectionSet,
    seen: &mut HashSet<&'d str>,
) -> usize {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if seen.insert(name) => {
                        root_fields(document, &fragment.node.selection_set.node, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// A refusal outside any field, for callers that check before executing.
pub fn refusal(error: ApiError) -> ServerError {
    error.extend().into_server_error(Pos::default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn count(query: &str) -> Result<(), String> {
        let limits = RootFieldLimits {
            mutation_fields: 3,
            query_fields: 2,
        };
        limits
            .check(&parse_query(query).unwrap())
            .map_err(|e| e.message)
    }

    #[test]
    fn aliases_and_fragments_count_as_the_fields_they_select() {
        assert!(count("mutation { a: x b: x c: x }").is_ok());
        assert!(count("mutation { a: x b: x c: x d: x }")
            .unwrap_err()
            .contains("holds 4"));
        assert!(count("mutation { a: x ...F } fragment F on M { b: x c: x d: x }").is_err());
        assert!(count("mutation { a: x ... on M { b: x c: x d: x } }").is_err());
        assert!(count("{ a b }").is_ok());
        assert!(count("{ a b c }").is_err(), "queries have their own limit");
        // A cycle does not loop here (validation refuses it afterwards).
        assert!(count("{ ...F } fragment F on Q { a ...F }").is_ok());
    }

    #[test]
    fn a_page_costs_its_size_times_its_items() {
        assert_eq!(page_cost(Some(100), 20, 3), 301);
        assert_eq!(page_cost(None, 20, 3), 61);
        assert_eq!(
            page_cost(Some(-5), 20, 3),
            4,
            "refused later, costed as one"
        );
        assert_eq!(page_cost(Some(i32::MAX), 20, usize::MAX), usize::MAX);
    }
}
