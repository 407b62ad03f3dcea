//! Ingestion through an external MQTT broker (Mosquitto, EMQX) for deployments that run one:
//! the hub subscribes instead of (or beside) listening itself.
//!
//! With a broker in between, the broker authenticates devices and its ACL binds each to its own
//! topic; the topic names the device: `v1/devices/{device id}/telemetry` (for Mosquitto:
//! `pattern write v1/devices/%u/telemetry` with the device id as username). Payloads are the same
//! as on the embedded gateway. Every node subscribes to the shared subscription
//! `$share/{group}/v1/devices/+/telemetry`, so the broker splits the devices' traffic between the
//! nodes. The session is persistent (clean session off, a stable client id per node) and acks are
//! manual: a publish is acknowledged to the broker only once its readings are durable, so a node
//! that dies before that gets it again from the broker when it comes back.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::watch;

use super::{Live, enqueue, parse_for};
use crate::AppState;
use std::future::Future;

/// Where and how to subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Credentials for the broker, if it asks.
    pub credentials: Option<(String, String)>,
    /// This node's client id: stable across restarts (its session is persistent) and different
    /// on every node.
    pub client_id: String,
    /// The shared-subscription group the nodes split the traffic in.
    pub group: String,
}

impl Subscription {
    /// Parses `mqtt://[user:password@]host[:port]` (port 1883 by default).
    pub fn parse(url: &str, client_id: &str, group: &str) -> Result<Subscription, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| format!("{url:?} is not an mqtt:// URL"))?;
        let rest = rest.trim_end_matches('/');
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((cred, hp)) => {
                let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((user.to_owned(), pass.to_owned())), hp)
            }
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            None => (hostport, 1883),
        };
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        if client_id.is_empty() || group.is_empty() || group.contains(['/', '+', '#']) {
            return Err(
                "the client id and group must be non-empty (and the group a plain word)".into(),
            );
        }
        Ok(Subscription {
            host: host.to_owned(),
            port,
            credentials,
            client_id: client_id.to_owned(),
            group: group.to_owned(),
        })
    }

    /// The topic filter every node subscribes to.
    pub fn filter(&self) -> String {
        format!("$share/{}/v1/devices/+/telemetry", self.group)
    }
}

/// The device a topic names, if it is a telemetry topic.
fn device_of(topic: &str) -> Option<&str> {
    let id = topic
        .strip_prefix("v1/devices/")?
        .strip_suffix("/telemetry")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Subscribes until `stop`; reconnects (with its persistent session) when the broker goes away.
pub async fn run(state: AppState, sub: Subscription, mut stop: watch::Receiver<bool>) {
    let mut options = MqttOptions::new(&sub.client_id, &sub.host, sub.port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    if let Some((user, pass)) = &sub.credentials {
        options.set_credentials(user, pass);
    }
    let (client, mut events) = AsyncClient::new(options, 4096);
    tracing::info!(broker = %format!("{}:{}", sub.host, sub.port), filter = %sub.filter(), client_id = %sub.client_id, "subscribing to the external MQTT broker");
    loop {
        tokio::select! {
            event = events.poll() => handle(&state, &sub, &client, event).await,
            _ = stop.changed() => {
                let _ = client.try_disconnect();
                return;
            }
        }
    }
}

async fn handle(
    state: &AppState,
    sub: &Subscription,
    client: &AsyncClient,
    event: Result<Event, rumqttc::ConnectionError>,
) {
    match event {
        Ok(Event::Incoming(Packet::ConnAck(ack))) => {
            // A broker that lost the session (restarted without persistence) needs it again.
            if !ack.session_present
                && let Err(e) = client.try_subscribe(sub.filter(), QoS::AtLeastOnce)
            {
                tracing::warn!(error = %e, "could not subscribe to the external broker");
            }
            tracing::info!(
                session_present = ack.session_present,
                "connected to the external MQTT broker"
            );
        }
        Ok(Event::Incoming(Packet::Publish(publish))) => take(state, client, publish).await,
        Ok(_) => {}
        Err(e) => {
            metrics::counter!("wanxiang_mqtt_broker_disconnects_total").increment(1);
            tracing::warn!(error = %e, "external MQTT broker connection lost; retrying in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Hands one publish to the pipeline and acknowledges it to the broker once durable. Publishes
/// for unknown or disabled devices are acknowledged and dropped (and counted).
async fn take(state: &AppState, client: &AsyncClient, publish: Publish) {
    let Some(id) = device_of(&publish.topic) else {
        return drop_unknown(client, &publish).await;
    };
    match state.sensing.find(state, id).await {
        Ok(live) => take_found(state, client, publish, live).await,
        Err(e) => {
            // The store is down. A broker resends an unacknowledged publish only when the
            // session reconnects, so the lookup is retried here (in a task of its own: the
            // connection keeps being served), and the publish is acknowledged only once its
            // reading is stored or its device is known not to exist.
            tracing::warn!(error = %e, "device lookup failed; retrying");
            let (state, client, id) = (state.clone(), client.clone(), id.to_owned());
            tokio::spawn(async move {
                let mut wait = RETRY_FIRST;
                loop {
                    back_off(&mut wait).await;
                    match state.sensing.find(&state, &id).await {
                        Ok(live) => return take_found(&state, &client, publish, live).await,
                        Err(e) => tracing::warn!(error = %e, "device lookup failed; retrying"),
                    }
                }
            });
        }
    }
}

/// The first wait before a failed lookup or store is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(25);
/// The longest wait between tries.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Waits `wait`, then doubles it up to [`RETRY_MAX`] for the next try.
async fn back_off(wait: &mut Duration) {
    tokio::time::sleep(*wait).await;
    *wait = (*wait * 2).min(RETRY_MAX);
}

/// Acknowledges and drops a publish no device of ours sent.
async fn drop_unknown(client: &AsyncClient, publish: &Publish) {
    metrics::counter!("wanxiang_telemetry_unknown_device_total").increment(1);
    let _ = client.ack(publish).await;
}

/// [`take`] once the device is looked up.
async fn take_found(
    state: &AppState,
    client: &AsyncClient,
    publish: Publish,
    live: Option<Arc<Live>>,
) {
    let Some(live) = live.filter(|l| !l.record.disabled) else {
        return drop_unknown(client, &publish).await;
    };
    if state
        .sensing
        .throttled(&live.record.id, state.clock.now_ms())
    {
        let _ = client.ack(&publish).await;
        return;
    }
    let state = state.clone();
    let client = client.clone();
    // Queued now, in arrival order; acknowledged when stored (retried while the store fails).
    let mut stored = Box::pin(resend(&state, &live, &publish));
    tokio::spawn(async move {
        let mut wait = RETRY_FIRST;
        loop {
            match stored.await {
                Ok(_) => {
                    let _ = client.ack(&publish).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, device = %live.record.id, retry_in_ms = wait.as_millis() as u64, "telemetry not stored; retrying");
                    back_off(&mut wait).await;
                    stored = Box::pin(resend(&state, &live, &publish));
                }
            }
        }
    });
}

/// Parses a publish for its device and queues it (again, after a failed commit).
fn resend(
    state: &AppState,
    live: &Arc<Live>,
    publish: &Publish,
) -> impl Future<Output = Result<super::Accepted, wanxiang_store::StoreError>> + Send + use<> {
    enqueue(state, live, parse_for(state, live, &publish.payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_topics_parse() {
        let s = Subscription::parse("mqtt://127.0.0.1:1883", "n1", "wanxiang").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.credentials.as_ref()),
            ("127.0.0.1", 1883, None)
        );
        assert_eq!(s.filter(), "$share/wanxiang/v1/devices/+/telemetry");
        let s = Subscription::parse("mqtt://hub:secret@broker.local", "n1", "g").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.credentials),
            ("broker.local", 1883, Some(("hub".into(), "secret".into())))
        );
        for bad in ["http://x", "mqtt://", "mqtt://h:port"] {
            assert!(Subscription::parse(bad, "n1", "g").is_err(), "{bad}");
        }
        assert!(Subscription::parse("mqtt://h", "n1", "a/b").is_err());
        assert_eq!(device_of("v1/devices/dev-1/telemetry"), Some("dev-1"));
        for bad in [
            "v1/devices/me",
            "v1/devices//telemetry",
            "v1/devices/a/b/telemetry",
            "x",
        ] {
            assert_eq!(device_of(bad), None, "{bad}");
        }
    }
}
