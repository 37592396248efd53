//! Storing verified events with group commit: concurrent deliveries are written in one
//! transaction per batch by a single writer, and each is acknowledged only after its batch
//! has committed. A failed batch fails every delivery in it (the providers retry).
//!
//! Routing is checked again in the storing transaction: an event whose webhook row was stopped
//! (disconnect, erasure) or re-bound to another integration since it was looked up is not
//! stored, whatever a cache on any instance said. The counter update at the end locks each row
//! (in id order, so writers do not deadlock) and finds it still routing there, or fails the
//! batch: the providers retry into the new state.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use super::sync_logs::{self, NewEvent};
use super::{Db, DbError, webhooks};
use crate::db;
use crate::domain::IntegrationId;

/// Deliveries written per transaction at most.
const MAX_BATCH: usize = 512;
/// Writers on PostgreSQL (each with its own connection): one commits while the next batch is
/// written. SQLite takes one writer at a time: a second would only wait for the lock, and
/// split the deliveries into smaller batches.
const WRITERS: usize = 2;
/// Deliveries waiting for the writer at most (then callers wait).
const QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// Already stored before (a provider's retry).
    Duplicate,
    /// Not stored: the webhook row no longer routes to that integration.
    Gone,
}

type Reply = oneshot::Sender<Result<Stored, String>>;

#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<(NewEvent, String, Reply)>,
}

impl EventSink {
    /// Starts the writer on the current runtime.
    pub fn start(db: Db) -> EventSink {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let writers = if db.is_postgres() { WRITERS } else { 1 };
        for _ in 0..writers {
            tokio::spawn(write_batches(db.clone(), rx.clone()));
        }
        EventSink { tx }
    }

    /// Stores the event (counted on webhook `webhook_id`); returns once it is committed.
    pub async fn store(&self, event: NewEvent, webhook_id: String) -> Result<Stored, DbError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((event, webhook_id, reply))
            .await
            .map_err(|_| DbError::Cancelled)?;
        match answer.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(e)) => Err(DbError::WriteFailed(e)),
            Err(_) => Err(DbError::Cancelled),
        }
    }
}

type Queue = std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<(NewEvent, String, Reply)>>>;

async fn write_batches(db: Db, rx: Queue) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while taking a batch, so one writer commits while the other fills.
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let items: Vec<(NewEvent, String, Reply)> = std::mem::take(&mut batch);
        let (writes, replies): (Vec<(NewEvent, String)>, Vec<Reply>) = items
            .into_iter()
            .map(|(event, webhook, reply)| ((event, webhook), reply))
            .unzip();
        let result = db
            .run(move |conn| {
                db::transaction(conn, |conn| {
                    let at = db::now();
                    let (events, webhook_ids): (Vec<NewEvent>, Vec<String>) = writes.into_iter().unzip();
                    let ids: Vec<&str> = webhook_ids.iter().map(String::as_str).collect();
                    let live = webhooks::live_targets(conn, &ids)?;
                    let routed: Vec<bool> = events
                        .iter()
                        .zip(&webhook_ids)
                        .map(|(event, webhook)| live.contains(&(webhook.clone(), event.integration_id)))
                        .collect();
                    let integrations: Vec<Option<IntegrationId>> =
                        events.iter().map(|event| event.integration_id).collect();
                    let storable: Vec<NewEvent> = events
                        .into_iter()
                        .zip(&routed)
                        .filter_map(|(event, routed)| routed.then_some(event))
                        .collect();
                    let mut inserted = sync_logs::insert_events(conn, &storable, at)?.into_iter();
                    let outcomes: Vec<Stored> = routed
                        .iter()
                        .map(
                            |routed| match (routed, routed.then(|| inserted.next()).flatten()) {
                                (false, _) => Stored::Gone,
                                (true, Some(true)) => Stored::New,
                                (true, _) => Stored::Duplicate,
                            },
                        )
                        .collect();
                    // In id order, so two writers lock shared rows in the same order.
                    let mut received: BTreeMap<String, (Option<IntegrationId>, i64)> = BTreeMap::new();
                    for ((webhook, integration), routed) in
                        webhook_ids.into_iter().zip(integrations).zip(routed)
                    {
                        if routed {
                            received.entry(webhook).or_insert((integration, 0)).1 += 1;
                        }
                    }
                    for (webhook, (integration, events)) in received {
                        if !webhooks::count_received_if_live(conn, &webhook, integration, events, at)? {
                            // Stopped since it was read: nothing of this batch is kept, and
                            // the providers retry into the new state.
                            return Err(DbError::WriteFailed("a webhook was stopped meanwhile".into()));
                        }
                    }
                    Ok(outcomes)
                })
            })
            .await;
        match result {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                if e.is_write_refused() {
                    // The database's watch logs refused writes, throttled.
                    tracing::debug!(error = %e, "webhook events not stored (write refused)");
                } else {
                    tracing::error!(error = %e, "storing webhook events failed; they are not acknowledged");
                }
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
