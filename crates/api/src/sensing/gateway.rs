//! The bridge from the MQTT listener (`wanxiang-mqtt`) to the telemetry pipeline: device
//! authentication by access token, and each publish handed over and acknowledged once durable.
//!
//! The gateway topic (`v1/gateway/telemetry`, ThingsBoard's) carries
//! `{"<device id>": [readings…], …}` for devices owned by the gateway device's organisation or,
//! for a unit, by units within it; readings for other devices are counted as `unknown_device` on
//! the gateway.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use wanxiang_mqtt::{Bytes, Outcome, Pending, Sink};

use super::{Live, enqueue, parse_for, payload};
use crate::AppState;

/// The sensing hub as the MQTT listener's sink.
pub struct DeviceSink {
    /// The node's state.
    pub state: AppState,
}

impl DeviceSink {
    fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.state.sensing.device(id)
    }
}

/// Whether a gateway owned by `gateway` may speak for a device owned by `child`: the same owner,
/// or a unit whose subtree holds the child's unit (a district gateway for its streets' devices).
fn covers(gateway: &str, child: &str) -> bool {
    gateway == child
        || matches!(
            (wanxiang_core::UnitCode::parse(gateway), wanxiang_core::UnitCode::parse(child)),
            (Ok(g), Ok(c)) if g.encloses(&c)
        )
}

fn outcome(result: Result<super::Accepted, wanxiang_store::StoreError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Stored,
        Err(e) => {
            tracing::warn!(error = %e, "telemetry not stored; the device will resend");
            Outcome::Unavailable
        }
    }
}

impl Sink for DeviceSink {
    fn authenticate(
        &self,
        token: &str,
    ) -> Pin<Box<dyn Future<Output = Option<Arc<str>>> + Send + '_>> {
        let token = token.to_owned();
        Box::pin(async move {
            match self.state.sensing.authenticate(&self.state, &token).await {
                Ok(Some(live)) if !live.record.disabled => Some(Arc::from(live.record.id.as_str())),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "device authentication failed");
                    None
                }
            }
        })
    }

    fn telemetry(&self, device: &Arc<str>, payload: Bytes) -> Pending {
        let Some(live) = self.live(device) else {
            return Box::pin(std::future::ready(Outcome::Unavailable));
        };
        if live.record.disabled {
            // Disabled after it connected: its data is refused, and acknowledged so it does not
            // pile up in the device.
            return Box::pin(std::future::ready(Outcome::Stored));
        }
        // Parsed and queued now (the gateway awaits only its oldest publish).
        let parsed = parse_for(&self.state, &live, &payload);
        let stored = enqueue(&self.state, &live, parsed);
        Box::pin(async move { outcome(stored.await) })
    }

    fn gateway(&self, device: &Arc<str>, bytes: Bytes) -> Pending {
        let state = &self.state;
        let Some(gateway) = self.live(device) else {
            return Box::pin(std::future::ready(Outcome::Unavailable));
        };
        let now = state.clock.now_ms();
        let mut unknown = 0;
        let mut waits = Vec::new();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => {
                for (id, readings) in map {
                    let child = state.sensing.device(&id).filter(|c| {
                        covers(&gateway.record.org, &c.record.org) && !c.record.disabled
                    });
                    let Some(child) = child else {
                        unknown += 1;
                        continue;
                    };
                    let parsed = payload::parse_value(
                        &readings,
                        &child.ty,
                        now,
                        state.sensing.window,
                        &mut || child.stamp(now),
                    );
                    waits.push(enqueue(state, &child, parsed));
                }
            }
            _ => unknown += 1,
        }
        if unknown > 0 {
            let parsed = payload::Outcome {
                readings: Vec::new(),
                bad: vec![("unknown_device", unknown)],
            };
            waits.push(enqueue(state, &gateway, parsed));
        }
        Box::pin(async move {
            for w in waits {
                if outcome(w.await) == Outcome::Unavailable {
                    return Outcome::Unavailable;
                }
            }
            Outcome::Stored
        })
    }

    fn throttled(&self, device: &Arc<str>) -> bool {
        self.state
            .sensing
            .throttled(device, self.state.clock.now_ms())
    }
}
