//! A behaviour suite for [`Outbox`] implementations (feature `test-util`).
//!
//! Call [`run_all`] with an empty outbox from a test; each check panics with a message
//! naming the rule that was broken. The checks use times far in the future (from
//! [`BASE_MS`] on), so an outbox that compares with its own clock is not fooled, and
//! they leave the outbox empty.

use super::*;
use crate::event::WebhookId;
use bytes::Bytes;

/// The "now" of the suite's first step (unix milliseconds, in 2100).
pub const BASE_MS: u64 = 4_102_444_800_000;

const LEASE: Duration = Duration::from_secs(60);

fn entry(n: u32, not_before_ms: u64) -> NewEntry {
    NewEntry {
        webhook_id: format!("msg_suite_{n}")
            .parse()
            .unwrap_or_else(|_| WebhookId::generate()),
        event: "suite_event".to_owned(),
        task_id: Some(format!("T-{n}")),
        body: Bytes::from(format!("{{\"n\":{n}}}")),
        attempts: n % 3,
        not_before_ms,
        created_ms: BASE_MS - 1000 + u64::from(n),
        replay_of: None,
        endpoint: None,
        ordering_key: None,
    }
}

/// Runs every check in order.
pub async fn run_all(outbox: &dyn Outbox) {
    append_then_claim_in_due_order(outbox).await;
    a_lease_excludes_others_until_it_runs_out(outbox).await;
    settles_are_fenced_and_idempotent(outbox).await;
    retry_later_waits_and_keeps_the_attempt_count(outbox).await;
    release_makes_an_entry_due_again(outbox).await;
    keyed_entries_go_one_at_a_time_in_order(outbox).await;
}

async fn drain(outbox: &dyn Outbox, owner: &OwnerId) {
    let far = BASE_MS + 1_000_000_000_000;
    let claimed = outbox
        .claim(owner, far, LEASE, 10_000)
        .await
        .expect("claim");
    let settles = claimed
        .into_iter()
        .map(|c| c.settle(Settlement::Delivered))
        .collect();
    outbox.settle(settles).await.expect("settle");
    let left = outbox.pending().await.expect("pending");
    assert_eq!(left.count, 0, "the suite leaves the outbox empty");
}

/// Appended entries are counted, claimed oldest due first, whole and unchanged.
pub async fn append_then_claim_in_due_order(outbox: &dyn Outbox) {
    let owner = OwnerId::generate();
    let batch = vec![
        entry(1, BASE_MS + 30),
        entry(2, BASE_MS + 10),
        entry(3, BASE_MS + 20),
    ];
    outbox.append(&owner, batch.clone()).await.expect("append");
    let pending = outbox.pending().await.expect("pending");
    assert_eq!(pending.count, 3, "pending counts appended entries");
    assert_eq!(
        pending.oldest_created_ms,
        Some(BASE_MS - 999),
        "oldest creation time"
    );
    assert_eq!(
        outbox.next_due().await.expect("next_due"),
        Some(BASE_MS + 10)
    );
    let none = outbox
        .claim(&owner, BASE_MS, LEASE, 10)
        .await
        .expect("claim");
    assert!(none.is_empty(), "nothing is claimed before it is due");
    let got = outbox
        .claim(&owner, BASE_MS + 25, LEASE, 10)
        .await
        .expect("claim");
    let names: Vec<_> = got.iter().map(|c| c.entry.task_id.clone()).collect();
    assert_eq!(
        names,
        [Some("T-2".into()), Some("T-3".into())],
        "oldest due first, due only"
    );
    let first = &got[0].entry;
    assert_eq!(first.body, batch[1].body, "body unchanged");
    assert_eq!(
        first.webhook_id, batch[1].webhook_id,
        "webhook id unchanged"
    );
    assert_eq!((first.attempts, first.event.as_str()), (2, "suite_event"));
    assert_eq!(first.origin, owner, "the appender is the origin");
    let max_one = outbox
        .claim(&owner, BASE_MS + 40, LEASE, 1)
        .await
        .expect("claim");
    assert_eq!(max_one.len(), 1, "claim honours max");
    drain(outbox, &owner).await;
}

/// A leased entry is not claimed again until its lease runs out; then it is, with a new
/// token.
pub async fn a_lease_excludes_others_until_it_runs_out(outbox: &dyn Outbox) {
    let (a, b) = (OwnerId::generate(), OwnerId::generate());
    outbox
        .append(&a, vec![entry(7, BASE_MS)])
        .await
        .expect("append");
    let first = outbox.claim(&a, BASE_MS, LEASE, 10).await.expect("claim");
    assert_eq!(first.len(), 1);
    let during = outbox
        .claim(&b, BASE_MS + 59_000, LEASE, 10)
        .await
        .expect("claim");
    assert!(during.is_empty(), "a live lease keeps others out");
    let lease_end = BASE_MS + LEASE.as_millis() as u64;
    assert_eq!(
        outbox.next_due().await.expect("next_due"),
        Some(lease_end),
        "next_due includes a lease's end"
    );
    let after = outbox
        .claim(&b, lease_end + 1, LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(after.len(), 1, "a lapsed lease can be taken over");
    assert_ne!(
        after[0].token, first[0].token,
        "each claim has its own token"
    );
    let stale = first[0].settle(Settlement::Delivered);
    let report = outbox.settle(vec![stale]).await.expect("settle");
    assert_eq!(
        (report.applied, report.fenced),
        (0, 1),
        "the old owner's settle is fenced"
    );
    assert_eq!(
        outbox.pending().await.expect("pending").count,
        1,
        "and changed nothing"
    );
    drain(outbox, &b).await;
}

/// Settling twice, or with a wrong token, changes nothing the second time.
pub async fn settles_are_fenced_and_idempotent(outbox: &dyn Outbox) {
    let owner = OwnerId::generate();
    outbox
        .append(&owner, vec![entry(4, BASE_MS), entry(5, BASE_MS)])
        .await
        .expect("append");
    let got = outbox
        .claim(&owner, BASE_MS, LEASE, 10)
        .await
        .expect("claim");
    let done = got[0].settle(Settlement::Delivered);
    let failed = got[1].settle(Settlement::Failed);
    let report = outbox.settle(vec![done, failed]).await.expect("settle");
    assert_eq!((report.applied, report.fenced), (2, 0));
    let again = outbox.settle(vec![done, failed]).await.expect("settle");
    assert_eq!(
        (again.applied, again.fenced),
        (0, 2),
        "a repeated settle changes nothing"
    );
    assert_eq!(
        outbox.pending().await.expect("pending").count,
        0,
        "delivered and failed are removed"
    );
    assert_eq!(
        outbox.next_due().await.expect("next_due"),
        None,
        "empty: nothing due"
    );
}

/// Appends `new` and claims it at once (as `owner`, at [`BASE_MS`]).
async fn append_then_claim(outbox: &dyn Outbox, owner: &OwnerId, new: NewEntry) -> Vec<Claimed> {
    outbox.append(owner, vec![new]).await.expect("append");
    let got = outbox
        .claim(owner, BASE_MS, LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(got.len(), 1, "the appended entry is claimed");
    got
}

/// `RetryAt` releases the lease, stores the attempts and waits until `not_before`.
pub async fn retry_later_waits_and_keeps_the_attempt_count(outbox: &dyn Outbox) {
    let owner = OwnerId::generate();
    let got = append_then_claim(outbox, &owner, entry(9, BASE_MS)).await;
    let later = BASE_MS + 300_000;
    let retry = got[0].settle(Settlement::RetryAt {
        attempts: 4,
        not_before_ms: later,
    });
    assert_eq!(outbox.settle(vec![retry]).await.expect("settle").applied, 1);
    let twice = outbox.settle(vec![retry]).await.expect("settle");
    assert_eq!(twice.fenced, 1, "a retry is scheduled once per attempt");
    assert_eq!(outbox.next_due().await.expect("next_due"), Some(later));
    let early = outbox
        .claim(&owner, later - 1, LEASE, 10)
        .await
        .expect("claim");
    assert!(early.is_empty(), "not before not_before");
    let due = outbox.claim(&owner, later, LEASE, 10).await.expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].entry.attempts, 4, "the attempt count is kept");
    drain(outbox, &owner).await;
}

/// `Release` gives the entry back, due at once, with its attempt count.
pub async fn release_makes_an_entry_due_again(outbox: &dyn Outbox) {
    let owner = OwnerId::generate();
    let got = append_then_claim(outbox, &owner, entry(11, BASE_MS)).await;
    let release = got[0].settle(Settlement::Release { attempts: 6 });
    assert_eq!(
        outbox.settle(vec![release]).await.expect("settle").applied,
        1
    );
    let other = OwnerId::generate();
    let again = outbox
        .claim(&other, BASE_MS + 1, LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1, "released: due again for anyone");
    assert_eq!(again[0].entry.attempts, 6);
    drain(outbox, &other).await;
}

fn keyed(n: u32, not_before_ms: u64, endpoint: Option<&str>, key: &str) -> NewEntry {
    NewEntry {
        endpoint: endpoint.map(str::to_owned),
        ordering_key: Some(key.to_owned()),
        ..entry(n, not_before_ms)
    }
}

async fn claim_ns(outbox: &dyn Outbox, owner: &OwnerId, now_ms: u64) -> Vec<Claimed> {
    outbox
        .claim(owner, now_ms, LEASE, 100)
        .await
        .expect("claim")
}

fn ns(claimed: &[Claimed]) -> Vec<String> {
    let mut tasks: Vec<String> = claimed
        .iter()
        .filter_map(|c| c.entry.task_id.clone())
        .collect();
    tasks.sort();
    tasks
}

/// Of the entries held for one endpoint with one ordering key, only the oldest is
/// handed out, retries included; the next one after it is removed. Other keys, other
/// endpoints and unkeyed entries pass; a waiting entry does not make `next_due` now.
pub async fn keyed_entries_go_one_at_a_time_in_order(outbox: &dyn Outbox) {
    let owner = OwnerId::generate();
    let now = BASE_MS;
    let entries = vec![
        keyed(21, now, Some("ep"), "k"),
        keyed(22, now, Some("ep"), "k"),
        keyed(23, now, Some("ep"), "other"),
        keyed(24, now, None, "k"),
        entry(25, now),
    ];
    outbox.append(&owner, entries).await.expect("append");
    let first = claim_ns(outbox, &owner, now).await;
    assert_eq!(
        ns(&first),
        ["T-21", "T-23", "T-24", "T-25"],
        "the second entry of (ep, k) waits for the first; other keys, endpoints and unkeyed entries pass"
    );
    let head = first
        .iter()
        .find(|c| c.entry.task_id.as_deref() == Some("T-21"))
        .expect("head");
    let rest: Vec<Settle> = first
        .iter()
        .filter(|c| c.entry.id != head.entry.id)
        .map(|c| c.settle(Settlement::Delivered))
        .collect();
    outbox.settle(rest).await.expect("settle");
    let retry_at = now + 5_000;
    let retry = head.settle(Settlement::RetryAt {
        attempts: 1,
        not_before_ms: retry_at,
    });
    outbox.settle(vec![retry]).await.expect("settle");
    assert!(
        claim_ns(outbox, &owner, now + 1).await.is_empty(),
        "while the head waits for its retry, the next of its key waits too"
    );
    assert_eq!(
        outbox.next_due().await.expect("next_due"),
        Some(retry_at),
        "an entry waiting behind its key's head is not due: the head's retry is next"
    );
    let again = claim_ns(outbox, &owner, retry_at).await;
    assert_eq!(ns(&again), ["T-21"], "the head again, at its retry time");
    outbox
        .settle(vec![again[0].settle(Settlement::Delivered)])
        .await
        .expect("settle");
    let next = claim_ns(outbox, &owner, retry_at).await;
    assert_eq!(
        ns(&next),
        ["T-22"],
        "removed, the head lets the next of its key go"
    );
    outbox
        .settle(vec![next[0].settle(Settlement::Delivered)])
        .await
        .expect("settle");
    assert_eq!(outbox.pending().await.expect("pending").count, 0);
}
