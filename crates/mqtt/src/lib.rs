//! The device gateway: an MQTT listener that devices connect to with their access token and
//! publish telemetry through, in ThingsBoard's convention (`v1/devices/me/telemetry`, the
//! gateway topic `v1/gateway/telemetry`).
//!
//! Architecture invariant: this crate knows MQTT and sockets, nothing of devices, readings or
//! stores. It hands each publish's payload to a [`Sink`] and acknowledges it (PUBACK) only when the
//! sink's future says the readings are durable. Why not rumqttd's router: it acknowledges QoS 1
//! as soon as its in-memory log holds the message, and it does not tell a subscriber which client
//! published; we need both the device's identity and the ack after commit. The MQTT codec is
//! rumqttc's (`rumqttc::mqttbytes::v4`), the crate we also use as the client.
//!
//! [`serve`] runs one task per connection, in the manner of mini-redis. The protocol decisions
//! live in a pure state machine (`session`); the socket loop (`connection`) hands publishes to the
//! sink without waiting for one before reading the next, writes their acks in arrival order as
//! they become durable, and stops reading while [`Settings::max_inflight`] are pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

mod connection;
mod session;

/// A future that the gateway awaits before acknowledging a publish.
pub type Pending = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// What became of one publish's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The good readings in it are durable (possibly none, if all were bad: bad readings are
    /// counted by the sink, and the device is still acknowledged so it does not resend them).
    Stored,
    /// The store could not take it; the publish is not acknowledged, so a QoS 1 device resends.
    Unavailable,
}

/// Where the gateway delivers what devices send. Implemented by the sensing hub.
pub trait Sink: Send + Sync + 'static {
    /// The device a token (the CONNECT username) belongs to, or `None` to refuse the connection.
    fn authenticate(
        &self,
        token: &str,
    ) -> Pin<Box<dyn Future<Output = Option<Arc<str>>> + Send + '_>>;
    /// One telemetry publish of `device` (`v1/devices/me/telemetry`), resolved when durable.
    ///
    /// The work must start when this is called, not when the future is first polled: a
    /// connection awaits only its oldest pending publish, so later ones make progress only
    /// through work already under way (that is what lets one connection pipeline many).
    fn telemetry(&self, device: &Arc<str>, payload: Bytes) -> Pending;
    /// One publish on the gateway topic (`v1/gateway/telemetry`) by the gateway device `device`.
    fn gateway(&self, device: &Arc<str>, payload: Bytes) -> Pending;
    /// Whether `device` is sending too much and its connection should slow down.
    fn throttled(&self, device: &Arc<str>) -> bool;
}

/// Limits that protect the gateway from devices that send too much or too little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The largest packet accepted, counting what follows the fixed header; a bigger one closes
    /// the connection before its bytes are buffered, so one device cannot exhaust memory.
    pub max_packet_bytes: usize,
    /// How many publishes of one connection may await the sink before the gateway stops reading
    /// its socket: backpressure on the device, and a bound on the memory one connection holds.
    /// Zero is taken as one.
    pub max_inflight: usize,
    /// How soon after the TCP connection the CONNECT must arrive (and be answered), so idle
    /// sockets do not accumulate.
    pub connect_timeout: Duration,
}

impl Default for Settings {
    /// 256 KiB packets, 256 publishes in flight, 10 s to connect.
    fn default() -> Self {
        Settings {
            max_packet_bytes: 256 * 1024,
            max_inflight: 256,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// How long an accept loop waits after a failed accept (typically: out of file descriptors)
/// before trying again, rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves devices on `listener` until `shutdown` resolves; the caller binds the listener (port 0
/// in tests). Each connection runs in its own task. On shutdown the gateway stops accepting, lets
/// each connection write the acks of publishes still pending for a short grace period, then
/// closes them all and returns. Accept errors are logged and retried, so this returns `Ok`.
pub async fn serve(
    listener: TcpListener,
    sink: Arc<dyn Sink>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Acks are coalesced here, so Nagle's delay would only add latency.
                    let _ = stream.set_nodelay(true);
                    let connection =
                        connection::run(stream, Arc::clone(&sink), settings, stopping.clone());
                    connections.spawn(connection.instrument(tracing::debug_span!("mqtt", %peer)));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a device connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(joined) = connections.join_next() => {
                if let Err(error) = joined {
                    tracing::warn!(%error, "a device connection task failed");
                }
            }
        }
    }
    drop(listener);
    tracing::debug!(
        connections = connections.len(),
        "shutting down the device gateway"
    );
    let _ = stop.send(true);
    // Each connection stops within its drain grace plus a final write; past twice the grace the
    // stragglers (say, still in their handshake) are aborted when the set is dropped.
    let all_closed = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(2 * connection::DRAIN_GRACE, all_closed).await;
    Ok(())
}
