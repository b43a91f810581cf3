//! The names and shapes design.md fixes: clients and scripts rely on them.

use crate::helpers::*;

#[tokio::test]
async fn the_schema_keeps_the_designed_signatures() {
    let api = spawn_api().await;
    let sdl = api.schema.sdl();
    for line in [
        "sendSms(input: SendSmsInput!): SendSmsPayload!",
        "message(id: ID!): Message",
        "messages(filter: MessageFilter, first: Int = 20, after: String): MessageConnection!",
        "providers: [Provider!]!",
        "provider(id: ID!): Provider",
        "statistics(from: Date!, to: Date!, provider: String, type: MessageType, groupBy: \
         StatisticsGroupBy, byType: Boolean): [DailyStatistics!]!",
        "p95DeliveryTime: Float",
        "messageUpdates(filter: MessageUpdatesFilter): Message!",
        "edges: [MessageEdge!]!",
        "pageInfo: PageInfo!",
        "hasNextPage: Boolean!",
        "endCursor: String",
        "idempotencyKey: String",
        "validity: Int",
        "type: MessageType! = TRANSACTIONAL",
        "apiKeyHint: String",
        "avgDeliveryTime: Float",
    ] {
        assert!(sdl.contains(line), "the schema lacks `{line}`");
    }
    for (enumeration, values) in [
        (
            "MessageStatus",
            &[
                "QUEUED",
                "SENDING",
                "SENT",
                "DELIVERED",
                "UNDELIVERED",
                "RETRYING",
                "FAILED",
                "EXPIRED",
            ][..],
        ),
        ("MessageType", &["OTP", "TRANSACTIONAL", "MARKETING"][..]),
        ("Encoding", &["GSM7", "UCS2"][..]),
        ("CircuitState", &["CLOSED", "HALF_OPEN", "OPEN"][..]),
        (
            "ProviderKind",
            &["SMSO", "TWILIO", "VONAGE", "HTTP", "MOCK"][..],
        ),
    ] {
        let start = sdl
            .find(&format!("enum {enumeration} {{"))
            .unwrap_or_else(|| panic!("no enum {enumeration}"));
        let body = &sdl[start..start + sdl[start..].find('}').unwrap()];
        let declared: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            })
            .collect();
        assert_eq!(declared, values, "enum {enumeration}");
    }
}
