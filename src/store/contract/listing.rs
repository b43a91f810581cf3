//! Contract checks for the message listing: newest first, cursor pages, and every filter.

use super::{all_pages, base_time, ids, in_status, insert_all, queued};
use chrono::{Duration, SubsecRound};
use smsgate_actors::domain::{
    event::ErrorKind, Message, MessageFilter, MessageId, MessageStatus, MessageType, PageRequest,
    E164,
};
use smsgate_actors::ports::Store;

pub async fn listing_is_newest_first_and_pages_without_gaps_or_repeats(store: &dyn Store) {
    let all: Vec<Message> = (0..25)
        .map(|i| queued("+40755000001", base_time() + Duration::seconds(i)))
        .collect();
    for batch in all.chunks(10) {
        insert_all(store, batch).await;
    }
    let newest_first: Vec<MessageId> = ids(&all).into_iter().rev().collect();

    let pages = all_pages(store, &MessageFilter::default(), 10).await;
    let sizes: Vec<_> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let listed: Vec<Message> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(ids(&listed), newest_first);
    assert!(
        listed.iter().all(|m| m.events.len() == 1),
        "events are included"
    );

    // A page size that divides the total: the last full page says there is no next one.
    let pages = all_pages(store, &MessageFilter::default(), 5).await;
    assert_eq!(pages.len(), 5);
    assert!(pages.iter().all(|p| p.items.len() == 5));

    // A message arriving between two pages does not shift the next page.
    let first = store
        .messages(
            &MessageFilter::default(),
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    insert_all(
        store,
        &[queued("+40755000001", base_time() + Duration::hours(1))],
    )
    .await;
    let after = first.items.last().map(|m| m.id.clone());
    let second = store
        .messages(&MessageFilter::default(), &PageRequest { first: 10, after })
        .await
        .unwrap();
    assert_eq!(ids(&second.items), newest_first[10..20]);
}

pub async fn every_filter_narrows_the_listing(store: &dyn Store) {
    use MessageStatus::*;
    let providers = [Some("smso"), Some("twilio"), None];
    let numbers = ["+40755000001", "+40755000002", "+40755000003"];
    let statuses = [Queued, Delivered, Failed, Sent];
    // Half-second steps: whole seconds and .5 alternate, which a text comparison of times with
    // a variable number of digits would get wrong.
    let all: Vec<Message> = (0..24)
        .map(|i| {
            let at = base_time().trunc_subsecs(0) + Duration::milliseconds(500 * i as i64);
            let mut m = in_status(numbers[i % 3], at, statuses[i % 4]);
            m.provider = providers[(i / 2) % 3].map(str::to_owned);
            m.message_type = MessageType::ALL[(i / 3) % 3];
            m.sent_by = [Some("shop"), Some("crm"), None][(i / 4) % 3].map(str::to_owned);
            if i % 8 == 2 {
                if let Some(error) = &mut m.error {
                    error.kind = ErrorKind::InvalidRecipient;
                }
            }
            m
        })
        .collect();
    insert_all(store, &all).await;

    let from = all[5].created_at;
    let to = all[17].created_at;
    let filters = [
        MessageFilter {
            status: Some(Delivered),
            ..Default::default()
        },
        MessageFilter {
            provider: Some("smso".into()),
            ..Default::default()
        },
        MessageFilter {
            message_type: Some(MessageType::Otp),
            ..Default::default()
        },
        MessageFilter {
            to: Some(E164::from_stored(numbers[1].into())),
            ..Default::default()
        },
        MessageFilter {
            created_from: Some(from),
            ..Default::default()
        },
        MessageFilter {
            created_to: Some(to),
            ..Default::default()
        },
        MessageFilter {
            created_from: Some(from),
            created_to: Some(to),
            ..Default::default()
        },
        MessageFilter {
            status: Some(Queued),
            provider: Some("twilio".into()),
            ..Default::default()
        },
        MessageFilter {
            error_kind: Some(ErrorKind::InvalidRecipient),
            ..Default::default()
        },
        MessageFilter {
            error_kind: Some(ErrorKind::Timeout),
            status: Some(Failed),
            ..Default::default()
        },
        MessageFilter {
            sent_by: Some("shop".into()),
            ..Default::default()
        },
        MessageFilter {
            sent_by: Some("crm".into()),
            message_type: Some(MessageType::Marketing),
            ..Default::default()
        },
    ];
    for filter in filters {
        let expected: Vec<MessageId> = all
            .iter()
            .rev()
            .filter(|m| filter.matches(m))
            .map(|m| m.id.clone())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "the data set must make {filter:?} narrow"
        );
        let listed: Vec<Message> = all_pages(store, &filter, 3)
            .await
            .into_iter()
            .flat_map(|p| p.items)
            .collect();
        assert_eq!(ids(&listed), expected, "{filter:?}");
        if let Some(name) = &filter.sent_by {
            assert!(
                listed.iter().all(|m| m.sent_by.as_ref() == Some(name)),
                "the sending token is stored with the message"
            );
        }
    }

    // The range is [from, to): a message at `from` is in, one at `to` is out.
    let range = MessageFilter {
        created_from: Some(from),
        created_to: Some(to),
        ..Default::default()
    };
    let listed = all_pages(store, &range, 100).await.remove(0).items;
    assert_eq!(listed.last().map(|m| &m.id), Some(&all[5].id));
    assert_eq!(listed.first().map(|m| &m.id), Some(&all[16].id));

    let nothing = MessageFilter {
        provider: Some("vonage".into()),
        ..Default::default()
    };
    let page = store
        .messages(
            &nothing,
            &PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty() && !page.has_next_page);
}
