//! The change bus: every change to a case, an early warning or a sensor alarm goes to this node's
//! SSE streams and, when a NATS server is configured (`bus.url`), to every other node's, so a
//! screen connected to any node of a cluster sees what happened on all of them.
//!
//! Two paths, one stream. **Case changes** on a store that keeps a change outbox (PostgreSQL,
//! `Store::records_changes`) are written there in the transaction that makes them; the
//! [`relay`] on any node claims them (SKIP LOCKED, with a lease), publishes them to the NATS
//! JetStream stream `WANXIANG_<prefix>` with the message id `case:<id>:<seq>`, and deletes them.
//! A node killed between its commit and its publish therefore loses nothing: its lines wait in
//! the outbox until a live node's relay takes them over, and JetStream's duplicate window drops a
//! line published twice. **Alarm changes** take the same way through the alarm outbox (message
//! id `alarm:<id>:<seq>`). Without a bus the relay hands them to this node's streams directly.
//! **Early warnings** (and every change on SQLite, a one-process store) are published by the
//! node that made them, straight after its write: at most once, from a bounded queue that drops
//! the oldest news (counted) rather than hold up the write when NATS is down for long.
//!
//! Every node reads the JetStream stream through an ordered consumer (gapless, from the moment
//! it connects) and passes on what it did not publish itself straight. When the consumer ends
//! (NATS restarted) the node makes a new one from the stream sequence after the last it saw, so
//! nothing in between is missed and nothing repeated.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use wanxiang_core::UnitCode;
use wanxiang_core::case::Stage;
use wanxiang_store::UnsentChange;

use crate::AppState;
use crate::events::{Change, Subject};

/// Changes waiting for the publisher before new ones are dropped.
const QUEUE: usize = 10_000;
/// Outbox lines one relay pass claims.
const RELAY_BATCH: u32 = 500;
/// How long a claim holds: past it, another node's relay may publish the lines again (well inside
/// JetStream's duplicate window, so the second publish is dropped there).
const LEASE: Duration = Duration::from_secs(15);
/// How long a stream keeps a change: the streams are a live view, the facts are in the store.
const KEEP: Duration = Duration::from_secs(15 * 60);
/// How often a relay looks into the outbox without being woken: for the lines of a node that
/// died, and of nodes without a relay of their own running.
const RELAY_POLL: Duration = Duration::from_secs(1);

/// This node's link to the other nodes.
#[derive(Debug)]
pub struct Link {
    /// Changes waiting to be published.
    tx: mpsc::Sender<Vec<u8>>,
    /// This node's id, so it skips its own changes when they come back.
    node: String,
    /// The NATS client, for its connection state.
    client: async_nats::Client,
}

/// Where changes go besides this node: set once when the bus connects.
#[derive(Debug, Default)]
pub struct Remote(OnceLock<Link>);

/// Sends a change to this node's streams and, when linked, to the other nodes'. A case change on
/// a store with a change outbox is already recorded there with its write: the [`relay`] is woken
/// to send it, and nothing else is done here.
pub fn publish(state: &AppState, change: Change) {
    // Cases and alarms go through the outboxes on such a store; warnings directly.
    if matches!(change.subject, Subject::Case { .. } | Subject::Alarm { .. })
        && state.store.records_changes()
    {
        state.relay_wake.notify_one();
        return;
    }
    if let Some(link) = state.remote.0.get() {
        match serde_json::to_vec(&Wire::of(&change, &link.node)) {
            Ok(bytes) => {
                if link.tx.try_send(bytes).is_err() {
                    metrics::counter!("wanxiang_bus_dropped_total").increment(1);
                }
            }
            Err(e) => tracing::warn!(error = %e, "change not encoded for the bus"),
        }
    }
    let _ = state.changes.send(change);
}

/// The state of this node's link to NATS (`connected`, `connecting`, `disconnected`), or `None`
/// when it has none.
pub fn status(state: &AppState) -> Option<&'static str> {
    use async_nats::connection::State;
    let link = state.remote.0.get()?;
    Some(match link.client.connection_state() {
        State::Connected => "connected",
        State::Pending => "connecting",
        State::Disconnected => "disconnected",
    })
}

/// The subject changes travel on: `<prefix>.changes`.
pub fn subject(prefix: &str) -> String {
    format!("{prefix}.changes")
}

/// The JetStream stream of a cluster's changes: `WANXIANG_<prefix>`, with the characters a stream
/// name may not hold replaced.
pub fn stream_name(prefix: &str) -> String {
    let safe: String = prefix
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    format!("WANXIANG_{safe}")
}

/// The cluster's stream: on disk (it outlives a NATS restart), a quarter of an hour deep, with a
/// two-minute duplicate window for the relay's message ids.
fn stream_config(prefix: &str) -> async_nats::jetstream::stream::Config {
    use async_nats::jetstream::stream;
    stream::Config {
        name: stream_name(prefix),
        subjects: vec![subject(prefix)],
        storage: stream::StorageType::File,
        max_age: KEEP,
        max_bytes: 256 << 20,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// Starts what carries this node's changes beyond its own writes: with a NATS `url`, the link to
/// the other nodes ([`connect`], which relays the change outbox too); without one, on a store
/// with a change outbox (one PostgreSQL node), the [`relay`] into this node's streams; otherwise
/// nothing (SQLite: changes go straight to the streams). The task ends at `stop`.
pub async fn start(
    state: &AppState,
    url: &str,
    prefix: &str,
    node: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, BusError> {
    if !url.is_empty() {
        return connect(state, url, prefix, node, stop).await.map(Some);
    }
    Ok(state
        .store
        .records_changes()
        .then(|| tokio::spawn(relay(state.clone(), None, stop))))
}

/// Links this node to NATS: makes sure the cluster's JetStream stream exists, then publishes
/// this node's direct changes, relays the change outbox (when the store keeps one), and passes
/// the stream's changes into this node's SSE streams, until `stop`. Fails when NATS cannot be
/// reached or refuses the stream (a node should not serve believing it is linked when it is not).
pub async fn connect(
    state: &AppState,
    url: &str,
    prefix: &str,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, BusError> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("wanxiang {node}"))
        .connect(url)
        .await
        .map_err(|e| BusError(format!("NATS unreachable: {e}")))?;
    let js = async_nats::jetstream::new(client.clone());
    let subject = subject(prefix);
    let (mut incoming, mut last) = consume(&js, prefix, None).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    // Consuming before linking, so nothing published after start is missed by this node.
    let _ = state.remote.0.set(Link {
        tx,
        node: node.clone(),
        client: client.clone(),
    });
    let relay = state.store.records_changes().then(|| {
        tokio::spawn(relay(
            state.clone(),
            Some((js.clone(), prefix.to_owned())),
            stop.clone(),
        ))
    });
    let state = state.clone();
    let prefix = prefix.to_owned();
    Ok(tokio::spawn(async move {
        use tokio_stream::StreamExt;
        // Looks again for the stream when the consumer is gone (NATS restarted, say).
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        loop {
            let gone = incoming.is_none();
            let next = async {
                match incoming.as_mut() {
                    Some(messages) => messages.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                Some(bytes) = rx.recv() => {
                    if let Err(e) = client.publish(subject.clone(), bytes.into()).await {
                        metrics::counter!("wanxiang_bus_dropped_total").increment(1);
                        tracing::debug!(error = %e, "change not published");
                    }
                }
                _ = retry.tick(), if gone => {
                    match consume(&js, &prefix, Some(last + 1)).await {
                        Ok((messages, _)) => {
                            tracing::info!(from = last + 1, "bus stream resumed");
                            incoming = messages;
                        }
                        Err(e) => tracing::debug!(error = %e, "bus stream not back yet"),
                    }
                }
                message = next => {
                    let message = match message {
                        Some(Ok(m)) => m,
                        // The consumer ended or failed: take it up again after the last message
                        // seen, so nothing in between is missed and nothing repeated.
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "bus stream interrupted; resuming");
                            incoming = None;
                            continue;
                        }
                        None => {
                            incoming = None;
                            continue;
                        }
                    };
                    if let Ok(info) = message.info() {
                        last = last.max(info.stream_sequence);
                    }
                    match serde_json::from_slice::<Wire>(&message.payload) {
                        Ok(w) if w.node == node => {}
                        Ok(w) => match w.change() {
                            Some(change) => {
                                metrics::counter!("wanxiang_bus_received_total").increment(1);
                                let _ = state.changes.send(change);
                            }
                            None => tracing::warn!("bus change with unknown values skipped"),
                        },
                        Err(e) => tracing::warn!(error = %e, "bus message not understood"),
                    }
                }
            }
        }
        let _ = client.flush().await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
    }))
}

/// An ordered consumer of the cluster's stream (made if missing): from `from` (a stream
/// sequence) when resuming, else from now. Returns it with the stream's last sequence, where a
/// later resumption starts after.
async fn consume(
    js: &async_nats::jetstream::Context,
    prefix: &str,
    from: Option<u64>,
) -> Result<(Option<async_nats::jetstream::consumer::pull::Ordered>, u64), BusError> {
    use async_nats::jetstream::consumer;
    let mut stream = js
        .get_or_create_stream(stream_config(prefix))
        .await
        .map_err(|e| BusError(format!("JetStream stream: {e}")))?;
    let last = stream
        .info()
        .await
        .map_err(|e| BusError(format!("JetStream stream: {e}")))?
        .state
        .last_sequence;
    let deliver_policy = match from {
        Some(start_sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
        None => consumer::DeliverPolicy::New,
    };
    let messages = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| BusError(format!("JetStream consumer: {e}")))?
        .messages()
        .await
        .map_err(|e| BusError(format!("JetStream consumer: {e}")))?;
    Ok((Some(messages), last))
}

/// Why the bus could not be linked.
#[derive(Debug)]
pub struct BusError(String);

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BusError {}

/// Relays the store's change outbox until `stop`: woken by this node's writes
/// (`AppState::relay_wake`) and every [`RELAY_POLL`] for the rest. With a bus, each claimed line
/// is published to JetStream (and reaches this node's streams back through its consumer); only
/// when every publish was acknowledged are the lines forgotten, otherwise their lease runs out
/// and a relay publishes them again. Without a bus (one PostgreSQL node), lines go straight to
/// this node's streams.
pub async fn relay(
    state: AppState,
    bus: Option<(async_nats::jetstream::Context, String)>, // and the subject prefix
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        loop {
            let now = wall_ms();
            let lease_until = now + LEASE.as_millis() as i64;
            let claimed = async {
                let cases = state
                    .store
                    .claim_changes(now, lease_until, RELAY_BATCH)
                    .await?;
                let alarms = state
                    .store
                    .claim_alarm_changes(now, lease_until, RELAY_BATCH)
                    .await?;
                Ok::<_, wanxiang_store::StoreError>((cases, alarms))
            };
            let (lines, alarm_lines) = match claimed.await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "change outbox not read");
                    break;
                }
            };
            if lines.is_empty() && alarm_lines.is_empty() {
                break;
            }
            let full = lines.len() as u32 == RELAY_BATCH || alarm_lines.len() as u32 == RELAY_BATCH;
            let sent: Vec<(String, i64)> =
                lines.iter().map(|l| (l.case_id.clone(), l.seq)).collect();
            let sent_alarms: Vec<(String, i64)> = alarm_lines
                .iter()
                .map(|l| (l.alarm.id.clone(), l.seq))
                .collect();
            let mut changes = changes_of(&lines);
            changes.extend(alarm_changes_of(&alarm_lines));
            let published = match &bus {
                Some((js, prefix)) => {
                    let sent = publish_lines(js, &subject(prefix), changes).await;
                    if !sent {
                        // NATS lost the stream (restarted without its store): make it again.
                        let _ = js.get_or_create_stream(stream_config(prefix)).await;
                    }
                    sent
                }
                None => {
                    for (_, change) in changes {
                        let _ = state.changes.send(change);
                    }
                    true
                }
            };
            if !published {
                break;
            }
            metrics::counter!("wanxiang_bus_relayed_total")
                .increment((sent.len() + sent_alarms.len()) as u64);
            if let Err(e) = state.store.forget_changes(&sent).await {
                tracing::warn!(error = %e, "relayed changes not forgotten; they may be published again");
            }
            if let Err(e) = state.store.forget_alarm_changes(&sent_alarms).await {
                tracing::warn!(error = %e, "relayed alarm changes not forgotten; they may be published again");
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = state.relay_wake.notified() => {}
            _ = tokio::time::sleep(RELAY_POLL) => {}
        }
    }
}

/// Publishes the changes of claimed outbox lines to JetStream and waits for every
/// acknowledgement. False when any was not acknowledged.
async fn publish_lines(
    js: &async_nats::jetstream::Context,
    subject: &str,
    changes: Vec<(String, Change)>,
) -> bool {
    use async_nats::jetstream::message::PublishMessage;
    let mut acks = Vec::new();
    for (key, change) in changes {
        // No node: every node passes it to its streams, the relaying one included.
        let bytes = match serde_json::to_vec(&Wire::of(&change, "")) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "change not encoded for the bus");
                continue;
            }
        };
        let message = PublishMessage::build()
            .payload(bytes.into())
            .message_id(key);
        match js.send_publish(subject.to_owned(), message).await {
            Ok(ack) => acks.push(ack),
            Err(e) => {
                tracing::warn!(error = %e, "change not published; its lease will run out");
                return false;
            }
        }
    }
    for ack in acks {
        if let Err(e) = ack.await {
            tracing::warn!(error = %e, "change not acknowledged; its lease will run out");
            return false;
        }
    }
    true
}

/// The changes outbox lines make, with their message ids. A case's lines written together (same
/// time; a new case's report, registration and dispatch) make one change, as its writer would have
/// sent: `created` when it holds the first line, else the last line's command.
fn changes_of(lines: &[UnsentChange]) -> Vec<(String, Change)> {
    let mut out: Vec<(String, Change)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = &lines[i];
        let mut j = i + 1;
        while j < lines.len() && lines[j].case_id == first.case_id && lines[j].at == first.at {
            j += 1;
        }
        let group = &lines[i..j];
        let last = &group[group.len() - 1];
        let kind = if group.iter().any(|l| l.seq == 1) {
            "created".to_owned()
        } else {
            last.command.clone()
        };
        out.push((
            format!("case:{}:{}", last.case_id, last.seq),
            Change {
                id: last.case_id.clone(),
                kind,
                subject: Subject::Case { stage: last.stage },
                assignee: last.assignee.clone(),
                area: last.area.clone(),
                reporter: last.reporter.clone(),
                at: last.at,
            },
        ));
        i = j;
    }
    out
}

/// The changes alarm outbox lines make, with their message ids (`alarm:<id>:<seq>`).
fn alarm_changes_of(lines: &[wanxiang_store::UnsentAlarm]) -> Vec<(String, Change)> {
    lines
        .iter()
        .map(|l| {
            (
                format!("alarm:{}:{}", l.alarm.id, l.seq),
                Change::alarm(&l.alarm, &l.action, l.at),
            )
        })
        .collect()
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A change on the wire between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wire {
    /// The node it happened on.
    node: String,
    id: String,
    kind: String,
    /// `case`, `warning` or `alarm`.
    subject: String,
    /// A case's stage, or a warning's or alarm's level.
    state: String,
    /// An alarm's device, rule, status and case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alarm: Option<WireAlarm>,
    assignee: Option<String>,
    area: String,
    reporter: Option<String>,
    at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireAlarm {
    device_id: String,
    rule: String,
    status: String,
    case_id: Option<String>,
}

impl Wire {
    fn of(c: &Change, node: &str) -> Wire {
        let (subject, state, alarm) = match &c.subject {
            Subject::Case { stage } => ("case", stage.as_str().to_owned(), None),
            Subject::Warning { level } => ("warning", level.as_str().to_owned(), None),
            Subject::Alarm {
                device_id,
                rule,
                level,
                status,
                case_id,
            } => (
                "alarm",
                level.as_str().to_owned(),
                Some(WireAlarm {
                    device_id: device_id.clone(),
                    rule: rule.clone(),
                    status: status.as_str().to_owned(),
                    case_id: case_id.clone(),
                }),
            ),
        };
        Wire {
            node: node.to_owned(),
            id: c.id.clone(),
            kind: c.kind.clone(),
            subject: subject.to_owned(),
            state,
            alarm,
            assignee: c.assignee.clone(),
            area: c.area.to_string(),
            reporter: c.reporter.clone(),
            at: c.at,
        }
    }

    /// The change, or `None` when a value is unknown (a newer node's kind of change).
    fn change(self) -> Option<Change> {
        use wanxiang_core::alarm::AlarmStatus;
        use wanxiang_core::warning::Level;
        let subject = match (self.subject.as_str(), self.alarm) {
            ("case", _) => Subject::Case {
                stage: Stage::parse(&self.state)?,
            },
            ("warning", _) => Subject::Warning {
                level: Level::parse(&self.state)?,
            },
            ("alarm", Some(a)) => Subject::Alarm {
                device_id: a.device_id,
                rule: a.rule,
                level: Level::parse(&self.state)?,
                status: AlarmStatus::parse(&a.status)?,
                case_id: a.case_id,
            },
            _ => return None,
        };
        Some(Change {
            id: self.id,
            kind: self.kind,
            subject,
            assignee: self.assignee,
            area: UnitCode::parse(&self.area).ok()?,
            reporter: self.reporter,
            at: self.at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_cross_the_wire_unchanged() {
        let area = UnitCode::parse("440303001001001").unwrap();
        let changes = [
            Change {
                id: "c1".into(),
                kind: "accept".into(),
                subject: Subject::Case {
                    stage: Stage::Accepted,
                },
                assignee: Some("440303001001".into()),
                area: area.clone(),
                reporter: Some("r1".into()),
                at: 7,
            },
            Change {
                id: "w1".into(),
                kind: "warning_new".into(),
                subject: Subject::Warning {
                    level: wanxiang_core::warning::Level::Orange,
                },
                assignee: None,
                area: area.clone(),
                reporter: None,
                at: 8,
            },
            Change {
                id: "a1".into(),
                kind: "raised".into(),
                subject: Subject::Alarm {
                    device_id: "d1".into(),
                    rule: "level_high".into(),
                    level: wanxiang_core::warning::Level::Red,
                    status: wanxiang_core::alarm::AlarmStatus::Active,
                    case_id: Some("c1".into()),
                },
                assignee: Some("440303001".into()),
                area,
                reporter: None,
                at: 9,
            },
        ];
        for c in changes {
            let bytes = serde_json::to_vec(&Wire::of(&c, "n1")).unwrap();
            let back: Wire = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back.node, "n1");
            assert_eq!(format!("{:?}", back.change().unwrap()), format!("{c:?}"));
        }
        let mut unknown = Wire::of(
            &Change {
                id: "x".into(),
                kind: "k".into(),
                subject: Subject::Case {
                    stage: Stage::Closed,
                },
                assignee: None,
                area: UnitCode::parse("440303").unwrap(),
                reporter: None,
                at: 0,
            },
            "n1",
        );
        unknown.state = "teleported".into();
        assert!(unknown.change().is_none(), "unknown values are skipped");
    }
}
