//! The `call.stats` event: your session's media over the last period.
//!
//! Sans-IO: each period the session hands in a [`Reading`] (counters from
//! the media connection's W3C statistics and from the session's own
//! decoders), and [`StatsTracker`] turns the difference from the previous
//! one into rates. Layers come from the server's `video.layers`.

use std::collections::HashMap;
use std::time::Instant;

use conclave_protocol::{CallStats, LinkDirection, MemberId, TrackKind, TrackStats};

/// How often `call.stats` is emitted.
pub const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// One received track's counters (its SSRC's: a slot the server recycles
/// for another member's track keeps its SSRC, and its counters).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Received {
    /// Whose track, of what kind.
    pub owner: Option<(MemberId, TrackKind)>,
    pub bytes: u64,
    pub packets: u64,
    pub lost: i64,
    /// Seconds, as the W3C statistics give it.
    pub jitter_s: f64,
    pub frames_decoded: u64,
    pub size: Option<(u32, u32)>,
}

/// One sent stream's counters (a simulcast layer is a stream).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sent {
    pub kind: Option<TrackKind>,
    pub layer: Option<u8>,
    pub bytes: u64,
    /// The server's reports: the share of packets it lost lately.
    pub fraction_lost: f64,
    pub frames: u64,
    pub size: Option<(u32, u32)>,
}

/// Everything measured at one moment.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    /// By SSRC.
    pub received: HashMap<u32, Received>,
    /// By SSRC.
    pub sent: HashMap<u32, Sent>,
    pub rtt_ms: Option<f64>,
    pub uplink_estimate_kbps: u32,
}

#[derive(Default)]
pub struct StatsTracker {
    previous: Option<(Instant, Reading)>,
    layers: HashMap<(MemberId, TrackKind), Option<u8>>,
}

impl StatsTracker {
    /// The server said which layers it forwards (`video.layers`).
    pub fn layers(&mut self, layers: impl IntoIterator<Item = (MemberId, TrackKind, Option<u8>)>) {
        self.layers = layers
            .into_iter()
            .map(|(member, kind, layer)| ((member, kind), layer))
            .collect();
    }

    /// The stats since the previous reading; `None` for the first.
    pub fn update(&mut self, now: Instant, reading: Reading) -> Option<CallStats> {
        let previous = self.previous.replace((now, reading.clone()));
        let (then, before) = previous?;
        let seconds = now.duration_since(then).as_secs_f64().max(0.001);
        let kbps = |bytes: u64, earlier: u64| {
            bytes.saturating_sub(earlier) as f64 * 8.0 / 1000.0 / seconds
        };
        let mut tracks = Vec::new();
        let mut received: Vec<_> = reading.received.iter().collect();
        received.sort_by_key(|(_, r)| r.owner.as_ref().map(|(m, k)| (m.0.clone(), k.as_str())));
        for (ssrc, now) in received {
            let Some((member, kind)) = &now.owner else {
                continue;
            };
            let earlier = match before.received.get(ssrc) {
                Some(earlier) if earlier.owner == now.owner => earlier.clone(),
                // New, or a recycled slot now carrying someone else: from the next period.
                _ => continue,
            };
            let got = now.packets.saturating_sub(earlier.packets);
            let lost = (now.lost - earlier.lost).max(0) as u64;
            let video = kind.is_video();
            tracks.push(TrackStats {
                member_id: Some(member.clone()),
                kind: *kind,
                direction: LinkDirection::Downlink,
                kbps: kbps(now.bytes, earlier.bytes),
                loss_percent: percent(lost, got + lost),
                jitter_ms: Some(now.jitter_s * 1000.0),
                fps: video.then(|| {
                    now.frames_decoded.saturating_sub(earlier.frames_decoded) as f64 / seconds
                }),
                width: now.size.map(|s| s.0),
                height: now.size.map(|s| s.1),
                layer: self.layers.get(&(member.clone(), *kind)).copied().flatten(),
            });
        }
        let mut sent: Vec<_> = reading
            .sent
            .iter()
            .filter(|(_, s)| s.kind.is_some())
            .collect();
        sent.sort_by_key(|(_, s)| (s.kind.map(TrackKind::as_str), s.layer));
        for (ssrc, now) in sent {
            let earlier = before.sent.get(ssrc).cloned().unwrap_or_default();
            let kind = now.kind.expect("filtered");
            let rate = kbps(now.bytes, earlier.bytes);
            if rate == 0.0 {
                continue; // A paused layer, or a muted track.
            }
            tracks.push(TrackStats {
                member_id: None,
                kind,
                direction: LinkDirection::Uplink,
                kbps: rate,
                loss_percent: now.fraction_lost * 100.0,
                jitter_ms: None,
                fps: kind
                    .is_video()
                    .then(|| now.frames.saturating_sub(earlier.frames) as f64 / seconds),
                width: now.size.map(|s| s.0),
                height: now.size.map(|s| s.1),
                layer: now.layer,
            });
        }
        Some(CallStats {
            period_ms: (seconds * 1000.0) as u64,
            rtt_ms: reading.rtt_ms,
            uplink_estimate_kbps: reading.uplink_estimate_kbps,
            tracks,
        })
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_loss_and_layers_come_from_the_difference_between_readings() {
        let start = Instant::now();
        let ann = (MemberId("m1".into()), TrackKind::Camera);
        let mut reading = Reading {
            uplink_estimate_kbps: 2000,
            ..Reading::default()
        };
        let anns = Received {
            owner: Some(ann.clone()),
            ..Received::default()
        };
        reading.received.insert(3, anns.clone());
        reading.sent.insert(
            7,
            Sent {
                kind: Some(TrackKind::Camera),
                layer: Some(2),
                ..Sent::default()
            },
        );
        let mut tracker = StatsTracker::default();
        assert_eq!(
            tracker.update(start, reading.clone()),
            None,
            "nothing to compare yet"
        );
        tracker.layers([(ann.0.clone(), TrackKind::Camera, Some(1))]);
        reading.received.insert(
            3,
            Received {
                bytes: 250_000,
                packets: 95,
                lost: 5,
                jitter_s: 0.004,
                frames_decoded: 60,
                size: Some((320, 180)),
                ..anns.clone()
            },
        );
        reading.sent.get_mut(&7).unwrap().bytes = 50_000;
        reading.sent.get_mut(&7).unwrap().frames = 60;
        reading.rtt_ms = Some(12.0);
        let stats = tracker
            .update(start + Duration::from_secs(2), reading)
            .unwrap();
        assert_eq!(stats.period_ms, 2000);
        assert_eq!(stats.rtt_ms, Some(12.0));
        let received = &stats.tracks[0];
        assert_eq!(received.member_id, Some(ann.0));
        assert_eq!(received.kbps, 1000.0);
        assert_eq!(received.loss_percent, 5.0);
        assert_eq!(received.fps, Some(30.0));
        assert_eq!(received.height, Some(180));
        assert_eq!(received.layer, Some(1));
        let sent = &stats.tracks[1];
        assert_eq!(
            (sent.member_id.clone(), sent.direction),
            (None, LinkDirection::Uplink)
        );
        assert_eq!((sent.kbps, sent.layer), (200.0, Some(2)));

        // The slot now carries bob's camera: no rate from ann's counters.
        let mut recycled = Reading::default();
        let bobs = Received {
            owner: Some((MemberId("m2".into()), TrackKind::Camera)),
            bytes: 400_000,
            ..anns
        };
        recycled.received.insert(3, bobs);
        let stats = tracker
            .update(start + Duration::from_secs(4), recycled)
            .unwrap();
        assert!(stats.tracks.is_empty(), "{stats:?}");
    }
}
