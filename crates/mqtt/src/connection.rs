//! One device connection: the socket loop that decodes packets, lets [`Session`] decide, hands
//! publishes to the [`Sink`] concurrently, and writes their acks in arrival order as the sink's
//! futures resolve, coalescing whatever is ready into one write.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::Error as CodecError;
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

use crate::session::{self, Action, Route, Session};
use crate::{Outcome, Pending, Settings, Sink};

/// How long a throttled device's connection pauses before its socket is read again.
const THROTTLE_PAUSE: Duration = Duration::from_millis(100);
/// How long a closing connection (DISCONNECT or server shutdown) waits for pending acks.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long one socket write may take before the device is deemed gone: a device that stops
/// reading its acks must not pin a task forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How much room to make in the read buffer before each read.
const READ_CHUNK: usize = 4096;

/// Why a connection ended, for the debug log.
type Closed = &'static str;

/// Serves one accepted socket until it closes, logging why at debug level.
pub(crate) async fn run(
    mut stream: TcpStream,
    sink: Arc<dyn Sink>,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    // With no room for even one publish, the socket would never be read again.
    let settings = Settings {
        max_inflight: settings.max_inflight.max(1),
        ..settings
    };
    let mut read = BytesMut::with_capacity(READ_CHUNK);
    let handshake = handshake(&mut stream, &mut read, &*sink, &settings);
    let (device, keep_alive) = match timeout(settings.connect_timeout, handshake).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(reason)) => return close(stream, reason).await,
        Err(_) => return close(stream, "no CONNECT in time").await,
    };
    tracing::debug!(%device, keep_alive, "device connected");
    let mut connection = Connection {
        stream,
        sink,
        device,
        settings,
        session: Session::default(),
        read,
        write: BytesMut::new(),
        pending: VecDeque::new(),
        silence_limit: session::silence_limit(keep_alive),
        last_heard: Instant::now(),
    };
    let reason = connection.serve(&mut shutdown).await;
    close(connection.stream, reason).await;
}

/// Closes the socket gracefully (FIN, so a final CONNACK is not lost to a reset) and logs why.
async fn close(mut stream: TcpStream, reason: Closed) {
    let _ = stream.shutdown().await;
    tracing::debug!(reason, "connection closed");
}

/// Reads the CONNECT, asks the sink who the token belongs to and answers with a CONNACK. Returns
/// the device and its keep-alive in seconds, or why the connection must close (after the refusing
/// CONNACK, when there is one to send).
async fn handshake(
    stream: &mut TcpStream,
    read: &mut BytesMut,
    sink: &dyn Sink,
    settings: &Settings,
) -> Result<(Arc<str>, u16), Closed> {
    let connect = loop {
        // Anything but a CONNECT's first byte (say, an HTTP request) is refused before its frame
        // is complete, rather than waiting out the connect timeout for bytes that never come.
        if read.first().is_some_and(|&byte| byte != 0x10) {
            return Err("the first packet was not CONNECT");
        }
        // Read before the codec consumes the frame, to answer an unknown version with a CONNACK.
        let level = session::connect_protocol_level(read);
        match Packet::read(read, settings.max_packet_bytes) {
            Ok(Packet::Connect(connect)) => break connect,
            Ok(_) => return Err("the first packet was not CONNECT"),
            Err(CodecError::InsufficientBytes(_)) => {}
            Err(CodecError::InvalidProtocol) => {
                return refuse(stream, ConnectReturnCode::RefusedProtocolVersion).await;
            }
            Err(_) if level.is_some_and(|level| level != 4) => {
                return refuse(stream, ConnectReturnCode::RefusedProtocolVersion).await;
            }
            Err(_) => return Err("a malformed or oversized first packet"),
        }
        read.reserve(READ_CHUNK);
        match stream.read_buf(read).await {
            Ok(0) => return Err("closed before CONNECT"),
            Ok(_) => {}
            Err(_) => return Err("read error before CONNECT"),
        }
    };
    // The client id is no secret; the login (token and password) is never logged.
    tracing::debug!(client_id = %connect.client_id, "CONNECT");
    let token = match session::token(&connect) {
        Ok(token) => token,
        Err(code) => return refuse(stream, code).await,
    };
    let Some(device) = sink.authenticate(token).await else {
        return refuse(stream, ConnectReturnCode::NotAuthorized).await;
    };
    send(stream, ConnAck::new(ConnectReturnCode::Success, false)).await?;
    Ok((device, connect.keep_alive))
}

/// Answers a CONNECT with a refusing CONNACK; the connection then closes.
async fn refuse<T>(stream: &mut TcpStream, code: ConnectReturnCode) -> Result<T, Closed> {
    send(stream, ConnAck::new(code, false)).await?;
    Err(match code {
        ConnectReturnCode::RefusedProtocolVersion => "refused: not MQTT 3.1.1",
        ConnectReturnCode::NotAuthorized => "refused: unknown token",
        _ => "refused: no token",
    })
}

/// Writes one CONNACK (bounded in time by the handshake's timeout).
async fn send(stream: &mut TcpStream, connack: ConnAck) -> Result<(), Closed> {
    let mut buf = BytesMut::new();
    encode(&Packet::ConnAck(connack), &mut buf)?;
    stream.write_all(&buf).await.map_err(|_| "write error")
}

/// Appends `packet` to `buf`.
fn encode(packet: &Packet, buf: &mut BytesMut) -> Result<(), Closed> {
    // Our packets are a few bytes, so no outgoing size limit applies.
    match packet.write(buf, usize::MAX) {
        Ok(_) => Ok(()),
        Err(_) => Err("could not encode a reply"),
    }
}

/// A publish (or a bare ack) waiting for its turn to be acknowledged.
struct Entry {
    /// The sink's future; the sink started the work when it was called, so later publishes are
    /// stored concurrently while only the oldest is awaited. `None` when nothing needs storing
    /// (an ignored topic, a QoS 2 resend, a PUBCOMP).
    stored: Option<Pending>,
    /// What to send once stored, in arrival order; `None` for QoS 0.
    ack: Option<Packet>,
}

/// An authenticated connection and its buffers.
struct Connection {
    /// The device's socket.
    stream: TcpStream,
    /// Where publishes go.
    sink: Arc<dyn Sink>,
    /// The device the CONNECT's token belongs to.
    device: Arc<str>,
    /// Limits, copied per connection.
    settings: Settings,
    /// The protocol decisions.
    session: Session,
    /// Bytes read and not yet decoded.
    read: BytesMut,
    /// Encoded replies and acks not yet written, so several go out in one write.
    write: BytesMut,
    /// Publishes in arrival order whose acks have not been written.
    pending: VecDeque<Entry>,
    /// How long the device may stay silent, from its keep-alive.
    silence_limit: Option<Duration>,
    /// When the last complete packet arrived.
    last_heard: Instant,
}

impl Connection {
    /// Runs the connection until it must close, and says why.
    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> Closed {
        // Set once the connection is closing: the moment it stops waiting for pending acks.
        let mut drain_until: Option<Instant> = None;
        let mut throttled_until: Option<Instant> = None;
        loop {
            if drain_until.is_none() {
                match self.decode_buffered() {
                    Ok(false) => {}
                    Ok(true) => drain_until = Some(Instant::now() + DRAIN_GRACE),
                    Err(reason) => return self.flush_then(reason).await,
                }
            }
            if let Err(reason) = self.settle_ready().await {
                return self.flush_then(reason).await;
            }
            if let Err(reason) = self.flush().await {
                return reason;
            }
            if drain_until.is_some() && self.pending.is_empty() {
                return "closed after the last ack";
            }
            // Backpressure: while `max_inflight` publishes are pending, the socket is not read.
            let reading = drain_until.is_none()
                && throttled_until.is_none()
                && self.pending.len() < self.settings.max_inflight;
            if !reading {
                // Silence only counts while the socket is read: a device whose packets wait
                // behind our backpressure or throttle is not silent.
                self.last_heard = Instant::now();
            }
            let silent_until = self.silence_limit.map(|limit| self.last_heard + limit);
            tokio::select! {
                // Reads come before the silence check, so a packet already waiting is never
                // mistaken for silence after a pause in reading.
                biased;
                outcome = front(&mut self.pending) => {
                    if let Some(entry) = self.pending.pop_front()
                        && let Err(reason) = self.settle(entry.ack, outcome)
                    {
                        return self.flush_then(reason).await;
                    }
                }
                read = self.stream.read_buf(&mut self.read), if reading => match read {
                    Ok(0) => return "closed by the device",
                    Ok(_) if self.sink.throttled(&self.device) => {
                        throttled_until = Some(Instant::now() + THROTTLE_PAUSE);
                    }
                    Ok(_) => {}
                    Err(_) => return "read error",
                },
                _ = sleep_until(throttled_until.unwrap_or_else(Instant::now)),
                    if throttled_until.is_some() => throttled_until = None,
                _ = sleep_until(silent_until.unwrap_or_else(Instant::now)),
                    if reading && silent_until.is_some() => return "keep-alive expired",
                _ = shutdown.changed(), if drain_until.is_none() => {
                    drain_until = Some(Instant::now() + DRAIN_GRACE);
                }
                _ = sleep_until(drain_until.unwrap_or_else(Instant::now)),
                    if drain_until.is_some() => return "acks still pending at the close",
            }
        }
    }

    /// Decodes and acts on the packets already read, as long as fewer than `max_inflight`
    /// publishes are pending. Returns whether the device disconnected.
    fn decode_buffered(&mut self) -> Result<bool, Closed> {
        self.read.reserve(READ_CHUNK);
        while self.pending.len() < self.settings.max_inflight {
            let packet = match Packet::read(&mut self.read, self.settings.max_packet_bytes) {
                Ok(packet) => packet,
                Err(CodecError::InsufficientBytes(_)) => return Ok(false),
                Err(error) => {
                    tracing::debug!(%error, "undecodable packet");
                    return Err("a malformed or oversized packet");
                }
            };
            self.last_heard = Instant::now();
            match self.session.on_packet(packet) {
                Action::Reply(reply) => encode(&reply, &mut self.write)?,
                Action::Deliver {
                    route,
                    payload,
                    ack,
                } => {
                    let stored = match route {
                        Route::Telemetry => self.sink.telemetry(&self.device, payload),
                        Route::Gateway => self.sink.gateway(&self.device, payload),
                    };
                    self.pending.push_back(Entry {
                        stored: Some(stored),
                        ack,
                    });
                }
                Action::Acknowledge(ack) => {
                    self.pending.push_back(Entry {
                        stored: None,
                        ack: Some(ack),
                    });
                }
                Action::Ignore => {}
                Action::Disconnect => return Ok(true),
                Action::Close(reason) => return Err(reason),
            }
        }
        Ok(false)
    }

    /// Settles the pending publishes at the front whose futures have finished, in order.
    async fn settle_ready(&mut self) -> Result<(), Closed> {
        while let Some(entry) = self.pending.front_mut() {
            let outcome = match entry.stored.as_mut() {
                None => Outcome::Stored,
                Some(stored) => match poll_now(stored) {
                    Some(outcome) => outcome,
                    None => break,
                },
            };
            let Some(entry) = self.pending.pop_front() else {
                break;
            };
            self.settle(entry.ack, outcome)?;
        }
        Ok(())
    }

    /// Queues the ack of one settled publish, or closes if a publish that needs one was lost.
    fn settle(&mut self, ack: Option<Packet>, outcome: Outcome) -> Result<(), Closed> {
        match (outcome, ack) {
            (Outcome::Stored, Some(ack)) => encode(&ack, &mut self.write),
            (Outcome::Stored, None) => Ok(()),
            // Without its ack the device resends after reconnecting; closing makes it reconnect.
            (Outcome::Unavailable, Some(_)) => Err("the sink is unavailable; the device resends"),
            (Outcome::Unavailable, None) => {
                tracing::debug!(device = %self.device, "a QoS 0 publish was not stored");
                Ok(())
            }
        }
    }

    /// Writes everything queued in one write.
    async fn flush(&mut self) -> Result<(), Closed> {
        if self.write.is_empty() {
            return Ok(());
        }
        match timeout(WRITE_TIMEOUT, self.stream.write_all(&self.write)).await {
            Ok(Ok(())) => {
                self.write.clear();
                Ok(())
            }
            Ok(Err(_)) => Err("write error"),
            Err(_) => Err("write timed out"),
        }
    }

    /// Writes the acks already earned before closing for `reason`.
    async fn flush_then(&mut self, reason: Closed) -> Closed {
        self.flush().await.err().unwrap_or(reason)
    }
}

/// The outcome of the oldest pending publish; never resolves if it has nothing to wait for.
async fn front(pending: &mut VecDeque<Entry>) -> Outcome {
    match pending.front_mut().and_then(|entry| entry.stored.as_mut()) {
        Some(stored) => stored.await,
        None => std::future::pending().await,
    }
}

/// Polls a future once without a task to wake: `Some` if it is already done. The connection
/// task is woken by the oldest pending future (see [`front`]); the rest are checked this way
/// whenever it runs.
fn poll_now(stored: &mut Pending) -> Option<Outcome> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match stored.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(outcome) => Some(outcome),
        std::task::Poll::Pending => None,
    }
}
