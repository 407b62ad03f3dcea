//! The change bus: every change to a case, an early warning or a sensor alarm goes to this node's
//! SSE streams and, when a NATS server is configured (`bus.url`), to every other node's, so a
//! screen connected to any node of a cluster sees what happened on all of them.
//!
//! Core NATS (not JetStream) carries these: the streams are a live view, at most once, and a
//! subscriber that misses some already reloads on `lagged`; the durable facts are in the store.
//! Publishing never waits on the network: changes queue for a publisher task, and when the queue
//! is full (NATS down for long) the oldest news is dropped and counted, never the write that
//! caused it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use wanxiang_core::UnitCode;
use wanxiang_core::case::Stage;

use crate::AppState;
use crate::events::{Change, Subject};

/// Changes waiting for the publisher before new ones are dropped.
const QUEUE: usize = 10_000;

/// This node's link to the other nodes.
#[derive(Debug)]
pub struct Link {
    /// Changes waiting to be published.
    tx: mpsc::Sender<Vec<u8>>,
    /// This node's id, so it skips its own changes when they come back.
    node: String,
}

/// Where changes go besides this node: set once when the bus connects.
#[derive(Debug, Default)]
pub struct Remote(OnceLock<Link>);

/// Sends a change to this node's streams and, when linked, to the other nodes'.
pub fn publish(state: &AppState, change: Change) {
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

/// The subject changes travel on: `<prefix>.changes`.
pub fn subject(prefix: &str) -> String {
    format!("{prefix}.changes")
}

/// Links this node to NATS, then publishes its changes and relays the other nodes' into its
/// streams until `stop`. The client connects and reconnects in the background (a node may start
/// before NATS is up); what is published meanwhile waits in the queue. Fails on a malformed URL.
pub async fn connect(
    state: &AppState,
    url: &str,
    prefix: &str,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, async_nats::ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("wanxiang {node}"))
        .retry_on_initial_connect()
        .connect(url)
        .await?;
    let subject = subject(prefix);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let mut incoming = match client.subscribe(subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "bus subscription failed; this node will not hear the others");
            return Ok(tokio::spawn(async {}));
        }
    };
    // Subscribed before linking, so nothing published after start is missed by this node.
    let _ = state.remote.0.set(Link {
        tx,
        node: node.clone(),
    });
    let state = state.clone();
    Ok(tokio::spawn(async move {
        use tokio_stream::StreamExt;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(bytes) = rx.recv() => {
                    if let Err(e) = client.publish(subject.clone(), bytes.into()).await {
                        metrics::counter!("wanxiang_bus_dropped_total").increment(1);
                        tracing::debug!(error = %e, "change not published");
                    }
                }
                Some(message) = incoming.next() => {
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
    }))
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
