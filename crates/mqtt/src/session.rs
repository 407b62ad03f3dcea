//! The protocol decisions of one device connection, as a pure state machine in the manner of
//! `rumqttc`'s `MqttState`: [`Session::on_packet`] takes a decoded packet and says what the
//! connection must do (reply, deliver to the sink, acknowledge in order, close). It does no I/O,
//! so every rule of the gateway's dialect is unit-tested here without sockets.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::mqttbytes::v4::{
    Connect, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Protocol, QoS};

/// ThingsBoard's topic for a device's own telemetry.
pub(crate) const TELEMETRY_TOPIC: &str = "v1/devices/me/telemetry";
/// ThingsBoard's topic on which a gateway device publishes for the devices behind it.
pub(crate) const GATEWAY_TOPIC: &str = "v1/gateway/telemetry";
/// The filters ThingsBoard's device SDKs subscribe to; granting them keeps those SDKs connected,
/// although the gateway never publishes anything to them.
const GRANTED_FILTERS: [&str; 3] = [
    "v1/devices/me/attributes",
    "v1/devices/me/attributes/response/+",
    "v1/devices/me/rpc/request/+",
];

/// Which [`Sink`](crate::Sink) method a publish is handed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// [`Sink::telemetry`](crate::Sink::telemetry): the device's own readings.
    Telemetry,
    /// [`Sink::gateway`](crate::Sink::gateway): readings a gateway device relays for others.
    Gateway,
}

/// Where a publish on `topic` goes, or `None` if the gateway accepts and ignores it (attribute
/// updates and anything else a device may send).
pub(crate) fn route(topic: &str) -> Option<Route> {
    match topic {
        TELEMETRY_TOPIC => Some(Route::Telemetry),
        GATEWAY_TOPIC => Some(Route::Gateway),
        _ => None,
    }
}

/// The answer to one SUBSCRIBE filter: QoS 0 for ThingsBoard's device topics, refusal otherwise.
pub(crate) fn grant(filter: &str) -> SubscribeReasonCode {
    if GRANTED_FILTERS.contains(&filter) {
        SubscribeReasonCode::Success(QoS::AtMostOnce)
    } else {
        SubscribeReasonCode::Failure
    }
}

/// The access token a CONNECT presents, or the return code refusing it before the sink is asked:
/// only MQTT 3.1.1 is spoken, and the username is the token (the password is ignored, as in
/// ThingsBoard).
pub(crate) fn token(connect: &Connect) -> Result<&str, ConnectReturnCode> {
    if connect.protocol != Protocol::V4 {
        return Err(ConnectReturnCode::RefusedProtocolVersion);
    }
    match &connect.login {
        Some(login) if !login.username.is_empty() => Ok(&login.username),
        _ => Err(ConnectReturnCode::BadUserNamePassword),
    }
}

/// How long a connection may stay silent: one and a half times its keep-alive, as MQTT 3.1.1
/// §3.1.2.10 says, or forever when the client asked for no keep-alive (0).
pub(crate) fn silence_limit(keep_alive_secs: u16) -> Option<Duration> {
    (keep_alive_secs > 0).then(|| Duration::from_millis(u64::from(keep_alive_secs) * 1500))
}

/// The protocol level byte of a CONNECT at the start of `buf`, read without the codec. The codec
/// rejects levels other than 4 and 5 (and may stumble over a 5's properties) before we see the
/// packet, yet such a client deserves a CONNACK saying which version we refuse.
pub(crate) fn connect_protocol_level(buf: &[u8]) -> Option<u8> {
    let (&first, rest) = buf.split_first()?;
    if first >> 4 != 1 {
        return None;
    }
    // The remaining length takes one to four bytes; all but the last have the top bit set.
    let length_bytes = rest.iter().take(4).position(|b| b & 0x80 == 0)? + 1;
    let rest = rest.get(length_bytes..)?;
    let name_len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    rest.get(2 + name_len).copied()
}

/// What the connection must do about one packet from the device.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this packet now, ahead of acks still pending: it acknowledges no publish.
    Reply(Packet),
    /// Hand `payload` to the sink; once it is stored, send `ack` (if any) in arrival order.
    Deliver {
        /// The sink method to call.
        route: Route,
        /// The publish's payload, passed on untouched.
        payload: Bytes,
        /// PUBACK for QoS 1, PUBREC for QoS 2, nothing for QoS 0.
        ack: Option<Packet>,
    },
    /// Send this ack in arrival order, behind publishes still pending, without asking the sink.
    Acknowledge(Packet),
    /// Nothing to send: a QoS 0 publish on an ignored topic, or an ack we never asked for.
    Ignore,
    /// The device said goodbye: finish the pending acks, then close.
    Disconnect,
    /// The device broke the protocol: close now, for the given reason.
    Close(&'static str),
}

/// The state of one connected device's session. Sessions are always clean (CONNACK says no
/// session is present), so this lives only as long as the connection.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Packet ids of QoS 2 publishes handed to the sink whose PUBREL has not arrived: a publish
    /// repeating one is a resend, acknowledged again but not delivered twice.
    exactly_once: HashSet<u16>,
}

impl Session {
    /// Decides what to do about `packet`, which arrived after the CONNECT.
    pub(crate) fn on_packet(&mut self, packet: Packet) -> Action {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish),
            Packet::PubRel(release) => {
                // MQTT 3.1.1 §4.3.3: answer PUBCOMP even for an id we no longer know.
                self.exactly_once.remove(&release.pkid);
                Action::Acknowledge(Packet::PubComp(PubComp::new(release.pkid)))
            }
            Packet::Subscribe(subscribe) => {
                let codes = subscribe.filters.iter().map(|f| grant(&f.path)).collect();
                Action::Reply(Packet::SubAck(SubAck::new(subscribe.pkid, codes)))
            }
            Packet::Unsubscribe(unsubscribe) => {
                Action::Reply(Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)))
            }
            Packet::PingReq => Action::Reply(Packet::PingResp),
            Packet::Disconnect => Action::Disconnect,
            Packet::Connect(_) => Action::Close("a second CONNECT"),
            // The gateway never publishes, so these acks answer nothing; they are harmless.
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => Action::Ignore,
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Action::Close("a packet only a server may send")
            }
        }
    }

    /// Decides what to do about one publish: route it and pick its ack by QoS.
    fn on_publish(&mut self, publish: Publish) -> Action {
        let ack = match publish.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(publish.pkid))),
            QoS::ExactlyOnce => {
                let received = Packet::PubRec(PubRec::new(publish.pkid));
                if !self.exactly_once.insert(publish.pkid) {
                    tracing::debug!(pkid = publish.pkid, "QoS 2 resend, not delivered again");
                    return Action::Acknowledge(received);
                }
                Some(received)
            }
        };
        match (route(&publish.topic), ack) {
            (Some(route), ack) => Action::Deliver {
                route,
                payload: publish.payload,
                ack,
            },
            (None, ack) => {
                tracing::debug!(topic = %publish.topic, "publish on an ignored topic");
                ack.map_or(Action::Ignore, Action::Acknowledge)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rumqttc::mqttbytes::v4::{PubRel, Subscribe, SubscribeFilter, Unsubscribe};

    fn publish(topic: &str, qos: QoS, pkid: u16) -> Packet {
        let mut publish = Publish::new(topic, qos, "{\"t\":1}");
        publish.pkid = pkid;
        Packet::Publish(publish)
    }

    fn connect(protocol: Protocol, login: Option<(&str, &str)>) -> Connect {
        let mut connect = Connect::new("client");
        connect.protocol = protocol;
        if let Some((user, password)) = login {
            connect.set_login(user, password);
        }
        connect
    }

    #[test]
    fn topics_route_to_the_sink_method_or_nowhere() {
        assert_eq!(route("v1/devices/me/telemetry"), Some(Route::Telemetry));
        assert_eq!(route("v1/gateway/telemetry"), Some(Route::Gateway));
        for ignored in [
            "v1/devices/me/attributes",
            "v1/devices/me/telemetry/",
            "other",
            "",
        ] {
            assert_eq!(route(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn only_thingsboard_device_filters_are_granted() {
        let qos0 = SubscribeReasonCode::Success(QoS::AtMostOnce);
        assert_eq!(grant("v1/devices/me/attributes"), qos0);
        assert_eq!(grant("v1/devices/me/attributes/response/+"), qos0);
        assert_eq!(grant("v1/devices/me/rpc/request/+"), qos0);
        for refused in [
            "#",
            "v1/devices/me/telemetry",
            "v1/devices/me/rpc/request/1",
            "v1/+",
        ] {
            assert_eq!(grant(refused), SubscribeReasonCode::Failure, "{refused}");
        }
    }

    #[test]
    fn the_username_is_the_token_and_only_3_1_1_is_spoken() {
        assert_eq!(token(&connect(Protocol::V4, Some(("abc", "")))), Ok("abc"));
        assert_eq!(
            token(&connect(Protocol::V4, Some(("abc", "ignored")))),
            Ok("abc")
        );
        assert_eq!(
            token(&connect(Protocol::V4, None)),
            Err(ConnectReturnCode::BadUserNamePassword)
        );
        assert_eq!(
            token(&connect(Protocol::V4, Some(("", "secret")))),
            Err(ConnectReturnCode::BadUserNamePassword)
        );
        assert_eq!(
            token(&connect(Protocol::V5, Some(("abc", "")))),
            Err(ConnectReturnCode::RefusedProtocolVersion)
        );
    }

    #[test]
    fn silence_is_allowed_one_and_a_half_keep_alives() {
        assert_eq!(silence_limit(0), None);
        assert_eq!(silence_limit(1), Some(Duration::from_millis(1500)));
        assert_eq!(silence_limit(60), Some(Duration::from_secs(90)));
        assert_eq!(
            silence_limit(u16::MAX),
            Some(Duration::from_millis(65535 * 1500))
        );
    }

    #[test]
    fn the_protocol_level_is_read_from_raw_connect_bytes() {
        let mut buf = BytesMut::new();
        Connect::new("c").write(&mut buf).unwrap();
        assert_eq!(connect_protocol_level(&buf), Some(4));
        // MQTT 3.1 names the protocol "MQIsdp" and is level 3.
        let v31 = [
            0x10, 0x0c, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 10,
        ];
        assert_eq!(connect_protocol_level(&v31), Some(3));
        let v5 = [0x10, 0x0a, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 10];
        assert_eq!(connect_protocol_level(&v5), Some(5));
        assert_eq!(connect_protocol_level(&v5[..8]), None, "truncated");
        assert_eq!(connect_protocol_level(&[0xc0, 0]), None, "not a CONNECT");
        assert_eq!(
            connect_protocol_level(&[0x10, 0xff, 0xff, 0xff, 0xff, 0]),
            None
        );
        assert_eq!(connect_protocol_level(&[]), None);
    }

    #[test]
    fn publishes_are_delivered_with_the_ack_their_qos_needs() {
        let mut session = Session::default();
        let payload = Bytes::from_static(b"{\"t\":1}");
        assert_eq!(
            session.on_packet(publish(TELEMETRY_TOPIC, QoS::AtMostOnce, 0)),
            Action::Deliver {
                route: Route::Telemetry,
                payload: payload.clone(),
                ack: None
            }
        );
        assert_eq!(
            session.on_packet(publish(GATEWAY_TOPIC, QoS::AtLeastOnce, 7)),
            Action::Deliver {
                route: Route::Gateway,
                payload: payload.clone(),
                ack: Some(Packet::PubAck(PubAck::new(7))),
            }
        );
        assert_eq!(
            session.on_packet(publish(TELEMETRY_TOPIC, QoS::ExactlyOnce, 8)),
            Action::Deliver {
                route: Route::Telemetry,
                payload,
                ack: Some(Packet::PubRec(PubRec::new(8))),
            }
        );
    }

    #[test]
    fn ignored_topics_are_acknowledged_without_the_sink() {
        let mut session = Session::default();
        let topic = "v1/devices/me/attributes";
        assert_eq!(
            session.on_packet(publish(topic, QoS::AtMostOnce, 0)),
            Action::Ignore
        );
        assert_eq!(
            session.on_packet(publish(topic, QoS::AtLeastOnce, 3)),
            Action::Acknowledge(Packet::PubAck(PubAck::new(3)))
        );
        assert_eq!(
            session.on_packet(publish(topic, QoS::ExactlyOnce, 4)),
            Action::Acknowledge(Packet::PubRec(PubRec::new(4)))
        );
    }

    #[test]
    fn a_qos2_resend_is_not_delivered_twice_until_released() {
        let mut session = Session::default();
        let first = session.on_packet(publish(TELEMETRY_TOPIC, QoS::ExactlyOnce, 9));
        assert!(matches!(first, Action::Deliver { .. }));
        assert_eq!(
            session.on_packet(publish(TELEMETRY_TOPIC, QoS::ExactlyOnce, 9)),
            Action::Acknowledge(Packet::PubRec(PubRec::new(9)))
        );
        assert_eq!(
            session.on_packet(Packet::PubRel(PubRel::new(9))),
            Action::Acknowledge(Packet::PubComp(PubComp::new(9)))
        );
        // After the release, the id is free for a new message.
        let reused = session.on_packet(publish(TELEMETRY_TOPIC, QoS::ExactlyOnce, 9));
        assert!(matches!(reused, Action::Deliver { .. }));
        // A PUBREL for an unknown id still gets its PUBCOMP.
        assert_eq!(
            session.on_packet(Packet::PubRel(PubRel::new(10))),
            Action::Acknowledge(Packet::PubComp(PubComp::new(10)))
        );
    }

    #[test]
    fn control_packets_are_answered_at_once() {
        let mut session = Session::default();
        let subscribe = Subscribe::new_many([
            SubscribeFilter::new("v1/devices/me/rpc/request/+".into(), QoS::AtLeastOnce),
            SubscribeFilter::new("#".into(), QoS::AtMostOnce),
        ]);
        let pkid = subscribe.pkid;
        assert_eq!(
            session.on_packet(Packet::Subscribe(subscribe)),
            Action::Reply(Packet::SubAck(SubAck::new(
                pkid,
                vec![
                    SubscribeReasonCode::Success(QoS::AtMostOnce),
                    SubscribeReasonCode::Failure
                ]
            )))
        );
        let mut unsubscribe = Unsubscribe::new("v1/devices/me/attributes");
        unsubscribe.pkid = 5;
        assert_eq!(
            session.on_packet(Packet::Unsubscribe(unsubscribe)),
            Action::Reply(Packet::UnsubAck(UnsubAck::new(5)))
        );
        assert_eq!(
            session.on_packet(Packet::PingReq),
            Action::Reply(Packet::PingResp)
        );
        assert_eq!(session.on_packet(Packet::Disconnect), Action::Disconnect);
        assert_eq!(
            session.on_packet(Packet::PubAck(PubAck::new(1))),
            Action::Ignore
        );
    }

    #[test]
    fn protocol_violations_close_the_connection() {
        let mut session = Session::default();
        assert!(matches!(
            session.on_packet(Packet::Connect(Connect::new("again"))),
            Action::Close(_)
        ));
        assert!(matches!(
            session.on_packet(Packet::PingResp),
            Action::Close(_)
        ));
    }
}
