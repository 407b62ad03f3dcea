//! The device gateway over real sockets: a fake sink behind `serve`, devices played by rumqttc's
//! client or by raw packets where the exact bytes and their order matter.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, PubRel, Publish, SubAck,
    Subscribe, SubscribeFilter, SubscribeReasonCode, UnsubAck, Unsubscribe,
};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use wanxiang_mqtt::{Outcome, Pending, Settings, Sink, serve};

/// A guard against hangs: no step of these tests legitimately takes this long.
const GUARD: Duration = Duration::from_secs(5);
const TELEMETRY: &str = "v1/devices/me/telemetry";
const GATEWAY: &str = "v1/gateway/telemetry";

/// One call the gateway made on the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    method: &'static str,
    device: String,
    payload: Bytes,
}

/// A sink that records every call. Payload `fail` is unavailable; a payload starting with `hold`
/// waits for the test to resolve it through the sender it hands out; anything else is stored.
struct Fake {
    calls: Mutex<Vec<Call>>,
    seen: mpsc::UnboundedSender<Call>,
    held: mpsc::UnboundedSender<oneshot::Sender<Outcome>>,
}

impl Fake {
    fn deliver(&self, method: &'static str, device: &Arc<str>, payload: Bytes) -> Pending {
        let call = Call {
            method,
            device: device.to_string(),
            payload: payload.clone(),
        };
        self.calls.lock().unwrap().push(call.clone());
        let _ = self.seen.send(call);
        if payload.starts_with(b"hold") {
            let (tx, rx) = oneshot::channel();
            let _ = self.held.send(tx);
            Box::pin(async move { rx.await.unwrap_or(Outcome::Unavailable) })
        } else if &payload[..] == b"fail" {
            Box::pin(async { Outcome::Unavailable })
        } else {
            Box::pin(async { Outcome::Stored })
        }
    }
}

impl Sink for Fake {
    fn authenticate(
        &self,
        token: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<Arc<str>>> + Send + '_>> {
        let device = match token {
            "good" => Some("dev-1"),
            "gw" => Some("gw-1"),
            "slow" => Some("dev-slow"),
            _ => None,
        };
        Box::pin(async move { device.map(Arc::from) })
    }
    fn telemetry(&self, device: &Arc<str>, payload: Bytes) -> Pending {
        self.deliver("telemetry", device, payload)
    }
    fn gateway(&self, device: &Arc<str>, payload: Bytes) -> Pending {
        self.deliver("gateway", device, payload)
    }
    fn throttled(&self, device: &Arc<str>) -> bool {
        &**device == "dev-slow"
    }
}

/// A running gateway and the test's handles on its fake sink.
struct Gateway {
    addr: SocketAddr,
    sink: Arc<Fake>,
    seen: mpsc::UnboundedReceiver<Call>,
    held: mpsc::UnboundedReceiver<oneshot::Sender<Outcome>>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    async fn start(settings: Settings) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (held_tx, held) = mpsc::unbounded_channel();
        let sink = Arc::new(Fake {
            calls: Mutex::default(),
            seen: seen_tx,
            held: held_tx,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let server = tokio::spawn(serve(listener, sink.clone(), settings, shutdown));
        Gateway {
            addr,
            sink,
            seen,
            held,
            stop: Some(stop),
            server,
        }
    }

    async fn default() -> Gateway {
        Gateway::start(Settings::default()).await
    }

    fn calls(&self) -> Vec<Call> {
        self.sink.calls.lock().unwrap().clone()
    }

    /// The next call the sink receives.
    async fn next_call(&mut self) -> Call {
        timeout(GUARD, self.seen.recv())
            .await
            .expect("no sink call in time")
            .unwrap()
    }

    /// The resolver of the next held publish.
    async fn next_held(&mut self) -> oneshot::Sender<Outcome> {
        timeout(GUARD, self.held.recv())
            .await
            .expect("no held publish in time")
            .unwrap()
    }

    fn client(&self, id: &str, token: &str) -> (AsyncClient, EventLoop) {
        let mut options = MqttOptions::new(id, self.addr.ip().to_string(), self.addr.port());
        options.set_credentials(token, "irrelevant");
        AsyncClient::new(options, 200)
    }
}

/// A device speaking raw MQTT packets.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
        }
    }

    /// Connects with `token` and expects to be accepted.
    async fn connect(addr: SocketAddr, token: &str) -> Raw {
        let mut raw = Raw::open(addr).await;
        let mut connect = Connect::new("raw");
        connect.set_login(token, "");
        raw.send(Packet::Connect(connect)).await;
        assert_eq!(raw.recv().await, Some(connack(ConnectReturnCode::Success)));
        raw
    }

    async fn send(&mut self, packet: Packet) {
        self.send_all(&[packet]).await;
    }

    /// Sends `packets` in one write, as a pipelining device would.
    async fn send_all(&mut self, packets: &[Packet]) {
        let mut buf = BytesMut::new();
        for packet in packets {
            packet.write(&mut buf, usize::MAX).unwrap();
        }
        self.send_bytes(&buf).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet from the gateway, or `None` once it has closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        timeout(GUARD, async {
            loop {
                match Packet::read(&mut self.buf, usize::MAX) {
                    Ok(packet) => return Some(packet),
                    Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                    Err(error) => panic!("the gateway sent garbage: {error}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("no packet and no close in time")
    }

    /// Expects the gateway to close the connection without sending anything more.
    async fn expect_closed(&mut self) {
        assert_eq!(self.recv().await, None);
    }
}

fn connack(code: ConnectReturnCode) -> Packet {
    Packet::ConnAck(ConnAck::new(code, false))
}

fn publish(topic: &str, qos: QoS, pkid: u16, payload: &str) -> Packet {
    let mut publish = Publish::new(topic, qos, payload);
    publish.pkid = pkid;
    Packet::Publish(publish)
}

fn puback(pkid: u16) -> Packet {
    Packet::PubAck(PubAck::new(pkid))
}

fn call(method: &'static str, device: &str, payload: &str) -> Call {
    Call {
        method,
        device: device.into(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

/// Polls `eventloop` until the connection ends and returns the error that ended it.
async fn connection_error(eventloop: &mut EventLoop) -> ConnectionError {
    timeout(GUARD, async {
        loop {
            if let Err(error) = eventloop.poll().await {
                return error;
            }
        }
    })
    .await
    .expect("the connection did not end in time")
}

#[tokio::test]
async fn a_wrong_token_is_refused_at_connect() {
    let gateway = Gateway::default().await;
    let (_client, mut eventloop) = gateway.client("c1", "wrong");
    let error = connection_error(&mut eventloop).await;
    assert!(
        matches!(
            error,
            ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_connect_without_username_is_refused_and_closed() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::open(gateway.addr).await;
    raw.send(Packet::Connect(Connect::new("anonymous"))).await;
    assert_eq!(
        raw.recv().await,
        Some(connack(ConnectReturnCode::BadUserNamePassword))
    );
    raw.expect_closed().await;
}

#[tokio::test]
async fn other_protocol_versions_are_refused_with_a_connack() {
    let gateway = Gateway::default().await;
    // MQTT 3.1 ("MQIsdp", level 3) and MQTT 5 (level 5, empty properties), each with username.
    let v31 = b"\x10\x12\x00\x06MQIsdp\x03\x82\x00\x3c\x00\x01c\x00\x01u".as_slice();
    let v5 = b"\x10\x11\x00\x04MQTT\x05\x82\x00\x3c\x00\x00\x01c\x00\x01u".as_slice();
    for connect in [v31, v5] {
        let mut raw = Raw::open(gateway.addr).await;
        raw.send_bytes(connect).await;
        assert_eq!(
            raw.recv().await,
            Some(connack(ConnectReturnCode::RefusedProtocolVersion))
        );
        raw.expect_closed().await;
    }
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_connect_timeout() {
    let settings = Settings {
        connect_timeout: Duration::from_millis(200),
        ..Settings::default()
    };
    let gateway = Gateway::start(settings).await;
    let mut raw = Raw::open(gateway.addr).await;
    raw.expect_closed().await;
}

#[tokio::test]
async fn a_first_packet_other_than_connect_closes() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::open(gateway.addr).await;
    raw.send(Packet::PingReq).await;
    raw.expect_closed().await;
}

#[tokio::test]
async fn qos1_puback_waits_until_the_sink_resolves() {
    let mut gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send(publish(TELEMETRY, QoS::AtLeastOnce, 1, "hold"))
        .await;
    let resolve = gateway.next_held().await;
    // PINGRESP is answered at once; had the PUBACK been sent early, it would come first.
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp));
    resolve.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(1)));
    assert_eq!(gateway.calls(), [call("telemetry", "dev-1", "hold")]);
}

#[tokio::test]
async fn a_hundred_pipelined_qos1_publishes_are_acked_in_order() {
    let mut gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    let publishes: Vec<Packet> = (1..=100)
        .map(|i| publish(TELEMETRY, QoS::AtLeastOnce, i, &format!("hold {i}")))
        .collect();
    raw.send_all(&publishes).await;
    // All hundred reach the sink before any is resolved: the gateway does not store serially.
    let mut resolvers = Vec::new();
    for _ in 0..100 {
        resolvers.push(gateway.next_held().await);
    }
    // Resolved newest first, they are still acknowledged in the order they arrived.
    for resolve in resolvers.into_iter().rev() {
        resolve.send(Outcome::Stored).unwrap();
    }
    for pkid in 1..=100 {
        assert_eq!(raw.recv().await, Some(puback(pkid)));
    }
    let payloads: Vec<String> = gateway
        .calls()
        .iter()
        .map(|c| String::from_utf8_lossy(&c.payload).into())
        .collect();
    let expected: Vec<String> = (1..=100).map(|i| format!("hold {i}")).collect();
    assert_eq!(payloads, expected);
}

#[tokio::test]
async fn rumqttc_gets_every_puback_for_pipelined_publishes() {
    let gateway = Gateway::default().await;
    let (client, mut eventloop) = gateway.client("c2", "good");
    for i in 0..100 {
        let payload = format!("{{\"n\":{i}}}");
        client
            .publish(TELEMETRY, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    let mut acked = 0;
    timeout(GUARD, async {
        while acked < 100 {
            if let Event::Incoming(Incoming::PubAck(_)) = eventloop.poll().await.unwrap() {
                acked += 1;
            }
        }
    })
    .await
    .expect("not all publishes were acknowledged in time");
    let calls = gateway.calls();
    assert_eq!(calls.len(), 100);
    assert!(
        calls
            .iter()
            .all(|c| c.method == "telemetry" && c.device == "dev-1")
    );
}

#[tokio::test]
async fn a_backlog_of_max_inflight_publishes_stops_reading() {
    let settings = Settings {
        max_inflight: 2,
        ..Settings::default()
    };
    let mut gateway = Gateway::start(settings).await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(TELEMETRY, QoS::AtLeastOnce, 1, "hold 1"),
        publish(TELEMETRY, QoS::AtLeastOnce, 2, "hold 2"),
        publish(TELEMETRY, QoS::AtLeastOnce, 3, "hold 3"),
        Packet::PingReq,
    ])
    .await;
    let first = gateway.next_held().await;
    let second = gateway.next_held().await;
    // The third publish and the PINGREQ wait undecoded while two publishes are pending, so the
    // first packet back is a PUBACK, not the PINGRESP. Each settled publish frees one slot.
    first.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(1)));
    let third = gateway.next_held().await;
    second.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(2)));
    assert_eq!(raw.recv().await, Some(Packet::PingResp));
    third.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(3)));
}

#[tokio::test]
async fn qos0_reaches_the_sink_without_an_ack() {
    let mut gateway = Gateway::default().await;
    let (client, mut eventloop) = gateway.client("c3", "good");
    client
        .publish(TELEMETRY, QoS::AtMostOnce, false, "{\"t\":21.5}")
        .await
        .unwrap();
    let polling = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    assert_eq!(
        gateway.next_call().await,
        call("telemetry", "dev-1", "{\"t\":21.5}")
    );
    polling.abort();

    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(TELEMETRY, QoS::AtMostOnce, 0, "not json"),
        Packet::PingReq,
    ])
    .await;
    assert_eq!(
        raw.recv().await,
        Some(Packet::PingResp),
        "nothing acknowledges QoS 0"
    );
    assert_eq!(
        gateway.next_call().await,
        call("telemetry", "dev-1", "not json")
    );
}

#[tokio::test]
async fn the_gateway_topic_routes_to_the_gateway_method() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "gw").await;
    let payload = r#"{"Sensor A":[{"ts":1,"values":{"t":1}}]}"#;
    raw.send(publish(GATEWAY, QoS::AtLeastOnce, 4, payload))
        .await;
    assert_eq!(raw.recv().await, Some(puback(4)));
    assert_eq!(gateway.calls(), [call("gateway", "gw-1", payload)]);
}

#[tokio::test]
async fn other_topics_are_acked_but_not_passed_to_the_sink() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(
            "v1/devices/me/attributes",
            QoS::AtLeastOnce,
            1,
            "{\"fw\":\"1.0\"}",
        ),
        publish("somewhere/else", QoS::AtLeastOnce, 2, "x"),
        publish("somewhere/else", QoS::AtMostOnce, 0, "y"),
        publish(TELEMETRY, QoS::AtLeastOnce, 3, "garbled {"),
    ])
    .await;
    for pkid in 1..=3 {
        assert_eq!(raw.recv().await, Some(puback(pkid)));
    }
    // A bad payload is the sink's business: it is delivered and acknowledged like any other.
    assert_eq!(gateway.calls(), [call("telemetry", "dev-1", "garbled {")]);
}

#[tokio::test]
async fn an_unavailable_sink_gets_no_ack_and_closes_the_connection() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(TELEMETRY, QoS::AtLeastOnce, 1, "ok"),
        publish(TELEMETRY, QoS::AtLeastOnce, 2, "fail"),
        publish(TELEMETRY, QoS::AtLeastOnce, 3, "after"),
    ])
    .await;
    // The ack earned before the failure still goes out; none after it.
    assert_eq!(raw.recv().await, Some(puback(1)));
    raw.expect_closed().await;
}

#[tokio::test]
async fn an_unavailable_qos0_publish_keeps_the_connection() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(TELEMETRY, QoS::AtMostOnce, 0, "fail"),
        Packet::PingReq,
    ])
    .await;
    raw.send(publish(TELEMETRY, QoS::AtLeastOnce, 1, "ok"))
        .await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp));
    assert_eq!(raw.recv().await, Some(puback(1)));
}

#[tokio::test]
async fn subscribe_grants_thingsboard_topics_and_refuses_others() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    let mut subscribe = Subscribe::new_many([
        SubscribeFilter::new("v1/devices/me/attributes".into(), QoS::AtLeastOnce),
        SubscribeFilter::new(
            "v1/devices/me/attributes/response/+".into(),
            QoS::AtMostOnce,
        ),
        SubscribeFilter::new("v1/devices/me/rpc/request/+".into(), QoS::ExactlyOnce),
        SubscribeFilter::new("#".into(), QoS::AtMostOnce),
        SubscribeFilter::new("v1/devices/other/telemetry".into(), QoS::AtMostOnce),
    ]);
    subscribe.pkid = 11;
    raw.send(Packet::Subscribe(subscribe)).await;
    let granted = SubscribeReasonCode::Success(QoS::AtMostOnce);
    let refused = SubscribeReasonCode::Failure;
    assert_eq!(
        raw.recv().await,
        Some(Packet::SubAck(SubAck::new(
            11,
            vec![granted, granted, granted, refused, refused]
        )))
    );
    let mut unsubscribe = Unsubscribe::new("v1/devices/me/attributes");
    unsubscribe.pkid = 12;
    raw.send(Packet::Unsubscribe(unsubscribe)).await;
    assert_eq!(raw.recv().await, Some(Packet::UnsubAck(UnsubAck::new(12))));
}

#[tokio::test]
async fn rumqttc_subscriptions_get_their_suback() {
    let gateway = Gateway::default().await;
    let (client, mut eventloop) = gateway.client("c4", "good");
    client
        .subscribe("v1/devices/me/rpc/request/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let suback = timeout(GUARD, async {
        loop {
            if let Event::Incoming(Incoming::SubAck(suback)) = eventloop.poll().await.unwrap() {
                return suback;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        suback.return_codes,
        [SubscribeReasonCode::Success(QoS::AtMostOnce)]
    );
}

#[tokio::test]
async fn pingreq_is_answered() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    for _ in 0..3 {
        raw.send(Packet::PingReq).await;
        assert_eq!(raw.recv().await, Some(Packet::PingResp));
    }
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let gateway = Gateway::default().await;
    // Packet type 0 does not exist.
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_bytes(&[0x00, 0x02, 0xde, 0xad]).await;
    raw.expect_closed().await;
    // A remaining length longer than four bytes is malformed.
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).await;
    raw.expect_closed().await;
    // And garbage instead of a CONNECT.
    let mut raw = Raw::open(gateway.addr).await;
    raw.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await;
    raw.expect_closed().await;
}

#[tokio::test]
async fn an_oversized_packet_closes_the_connection() {
    let settings = Settings {
        max_packet_bytes: 1024,
        ..Settings::default()
    };
    let gateway = Gateway::start(settings).await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send(publish(TELEMETRY, QoS::AtLeastOnce, 1, &"x".repeat(900)))
        .await;
    assert_eq!(raw.recv().await, Some(puback(1)));
    raw.send(publish(TELEMETRY, QoS::AtLeastOnce, 2, &"x".repeat(2000)))
        .await;
    raw.expect_closed().await;
    assert_eq!(gateway.calls().len(), 1);
}

#[tokio::test]
async fn a_second_connect_closes_the_connection() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    let mut connect = Connect::new("again");
    connect.set_login("good", "");
    raw.send(Packet::Connect(connect)).await;
    raw.expect_closed().await;
}

#[tokio::test]
async fn a_qos2_resend_is_not_delivered_twice() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send(publish(TELEMETRY, QoS::ExactlyOnce, 7, "{\"t\":1}"))
        .await;
    assert_eq!(raw.recv().await, Some(Packet::PubRec(PubRec::new(7))));
    let Packet::Publish(mut resend) = publish(TELEMETRY, QoS::ExactlyOnce, 7, "{\"t\":1}") else {
        unreachable!()
    };
    resend.dup = true;
    raw.send(Packet::Publish(resend)).await;
    assert_eq!(raw.recv().await, Some(Packet::PubRec(PubRec::new(7))));
    raw.send(Packet::PubRel(PubRel::new(7))).await;
    assert_eq!(raw.recv().await, Some(Packet::PubComp(PubComp::new(7))));
    assert_eq!(gateway.calls(), [call("telemetry", "dev-1", "{\"t\":1}")]);
}

#[tokio::test]
async fn disconnect_finishes_pending_acks_then_closes() {
    let mut gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send_all(&[
        publish(TELEMETRY, QoS::AtLeastOnce, 5, "hold"),
        Packet::Disconnect,
    ])
    .await;
    gateway.next_held().await.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(5)));
    raw.expect_closed().await;
}

#[tokio::test]
async fn a_throttled_device_is_slowed_but_not_disconnected() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "slow").await;
    let started = Instant::now();
    for pkid in 1..=3 {
        raw.send(publish(TELEMETRY, QoS::AtLeastOnce, pkid, "{}"))
            .await;
        assert_eq!(raw.recv().await, Some(puback(pkid)));
    }
    // Each read after the first waits out the throttle pause (100 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(gateway.calls().len(), 3);
}

#[tokio::test]
async fn a_device_silent_past_its_keep_alive_is_closed() {
    let gateway = Gateway::default().await;
    let mut raw = Raw::open(gateway.addr).await;
    let mut connect = Connect::new("sleepy");
    connect.keep_alive = 1;
    connect.set_login("good", "");
    raw.send(Packet::Connect(connect)).await;
    assert_eq!(raw.recv().await, Some(connack(ConnectReturnCode::Success)));
    let started = Instant::now();
    raw.expect_closed().await;
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_lets_pending_acks_out_then_closes_and_returns() {
    let mut gateway = Gateway::default().await;
    let mut raw = Raw::connect(gateway.addr, "good").await;
    raw.send(publish(TELEMETRY, QoS::AtLeastOnce, 1, "hold"))
        .await;
    let resolve = gateway.next_held().await;
    gateway.stop.take().unwrap().send(()).unwrap();
    resolve.send(Outcome::Stored).unwrap();
    assert_eq!(raw.recv().await, Some(puback(1)));
    raw.expect_closed().await;
    timeout(GUARD, gateway.server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(gateway.addr).await.is_err(),
        "still accepting"
    );
}
