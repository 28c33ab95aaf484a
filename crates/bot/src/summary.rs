//! The bot's report of what it received from each remote member: the
//! session's counters and newest frames, and the probe's measurements (the
//! bot enables the probe when it joins). Beside it, what the bot sent
//! (`sent`: video frames per local track) and the size of the server's last
//! SDP offer (`offer`: `bytes`, `m_sections`, `count`, the offers so far, and
//! `relay_candidates`, its TURN candidates), and `first_frame_ms`, from the
//! signaling connection's opening to the first remote video frame decoded.

use std::collections::{BTreeMap, HashMap};

use conclave_client::{RemoteMedia, RoomSession};
use conclave_media::{
    OPUS_SAMPLE_RATE, dominant_frequency, looks_like_synthetic_screen, mean_colour,
};
use conclave_protocol::{MemberId, TrackKind};
use serde_json::{Value, json};

pub fn build(session: &RoomSession, names: &HashMap<MemberId, String>) -> Value {
    let remote = &session.remote;
    let sent = json!({
        "camera_frames": session.frames_sent(TrackKind::Camera),
        "screen_frames": session.frames_sent(TrackKind::Screen),
    });
    let offer = remote.last_offer().map(|offer| {
        json!({
            "bytes": offer.bytes,
            "m_sections": offer.m_sections,
            "count": offer.count,
            "relay_candidates": offer.relay_candidates,
        })
    });
    let first_frame_ms = remote
        .time_to_first_frame()
        .map(|took| took.as_secs_f64() * 1000.0);
    json!({
        "summary": received(remote, names),
        "sent": sent,
        "offer": offer,
        "first_frame_ms": first_frame_ms,
    })
}

fn received(remote: &RemoteMedia, names: &HashMap<MemberId, String>) -> Value {
    let mut members: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    let stats_of = remote.stats();
    let probe = remote.probe();
    let latest = |member: &MemberId, kind| remote.latest_frame(member, kind).map(|f| f.frame);
    for ((member, kind), stats) in &stats_of {
        let track_probe = probe
            .get(&(member.clone(), *kind))
            .cloned()
            .unwrap_or_default();
        let (member, kind) = (member.clone(), *kind);
        let entry = members.entry(member.0.clone()).or_insert_with(|| {
            let mut m = serde_json::Map::new();
            m.insert(
                "name".into(),
                json!(names.get(&member).cloned().unwrap_or_default()),
            );
            m
        });
        let prefix = kind.as_str();
        entry.insert(format!("{prefix}_packets"), json!(stats.packets));
        entry.insert(format!("{prefix}_bytes"), json!(stats.bytes));
        entry.insert(format!("{prefix}_ended"), json!(stats.ended));
        if kind == TrackKind::Microphone {
            let audio: Vec<i16> = track_probe.recent_audio.iter().copied().collect();
            entry.insert(
                "tone_hz".into(),
                json!(dominant_frequency(&audio, OPUS_SAMPLE_RATE)),
            );
            continue;
        }
        entry.insert(format!("{prefix}_frames"), json!(stats.frames_decoded));
        entry.insert(
            format!("{prefix}_frames_received"),
            json!(stats.frames_received),
        );
        entry.insert(
            format!("{prefix}_decode_errors"),
            json!(stats.decode_errors),
        );
        entry.insert(format!("{prefix}_freezes"), json!(stats.freezes));
        entry.insert(format!("{prefix}_frozen_ms"), json!(stats.frozen_ms));
        if let Some(frame) = &latest(&member, kind) {
            entry.insert(
                format!("{prefix}_mean_colour"),
                json!(mean_colour(frame).to_hex()),
            );
            entry.insert(format!("{prefix}_size"), json!([frame.width, frame.height]));
            if kind == TrackKind::Screen {
                // A member's screen carries the member's colour, as its camera does.
                let camera = latest(&member, TrackKind::Camera);
                let looks = camera
                    .is_some_and(|camera| looks_like_synthetic_screen(frame, mean_colour(&camera)));
                entry.insert("screen_looks_like_screen".into(), json!(looks));
                // The bottom-right corner of a real desktop is its background
                // (the tests paint it a known colour), clear of the app's window.
                let (w, h) = (frame.width, frame.height);
                let corner = frame.crop(w - w / 8, h - h / 8, w / 8, h / 8);
                entry.insert(
                    "screen_corner_colour".into(),
                    json!(mean_colour(&corner).to_hex()),
                );
            }
        }
        let mut latencies = track_probe.latencies_us;
        if !latencies.is_empty() {
            latencies.sort_unstable();
            let pick = |q: f64| {
                latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
            };
            entry.insert(
                format!("{prefix}_latency_ms"),
                json!({ "p50": pick(0.5), "p95": pick(0.95), "n": latencies.len() }),
            );
        }
    }
    json!(members)
}
