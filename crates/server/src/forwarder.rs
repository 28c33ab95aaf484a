//! One published track, fanned out to its subscribers without transcoding.
//!
//! The forwarder reads RTP from the publisher's remote track (from each of
//! its simulcast layers) and hands each packet to every subscriber through
//! a broadcast channel (payloads are reference-counted, so the fan-out
//! copies no media); each subscriber's pump forwards the one layer chosen
//! for it. Keyframe requests from
//! subscribers come back through [`Forwarder::request_keyframe`], throttled,
//! as one PLI to the publisher. The throttle coalesces, it never drops: a
//! request within the interval after a PLI is sent at the interval's end.
//! Asking never waits: the PLI is written by the forwarder's own task, so
//! neither the hub nor a subscriber's packet pump waits on the publisher's
//! connection.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conclave_protocol::TrackKind;
use conclave_rtc::MAX_LEVELS;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use tokio::sync::{broadcast, mpsc};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::rooms::ConnId;

/// Enough for a keyframe burst at 720p in every layer without a slow subscriber lagging.
const FANOUT_QUEUE: usize = 1024;
/// A publisher need not encode more than a few keyframes per second, however many subscribers ask.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

/// One packet of one layer, as every subscriber's pump sees it.
#[derive(Clone)]
pub struct LayerPacket {
    pub level: u8,
    /// It begins a keyframe: a subscriber can switch to this layer here.
    pub keyframe: bool,
    pub packet: rtp::Packet,
}

/// What the forwarder knows of one layer, for the subscribers' allocation.
#[derive(Default)]
struct Layer {
    /// To the task that sends this layer's publisher track keyframe requests.
    keyframe_requests: OnceLock<mpsc::Sender<()>>,
    bytes: AtomicU64,
    /// Milliseconds after the forwarder started; 0 before the first packet.
    last_packet_ms: AtomicU64,
    /// From its latest keyframe.
    height: AtomicU32,
    rate: std::sync::Mutex<Rate>,
}

/// A layer's bitrate, measured when it is read (by every subscriber's
/// allocation), at most once per [`RATE_WINDOW`].
#[derive(Default)]
struct Rate {
    since: Option<(Instant, u64)>,
    kbps: Option<f64>,
}

const RATE_WINDOW: Duration = Duration::from_millis(400);

impl Rate {
    fn read(&mut self, now: Instant, bytes: u64) -> Option<f64> {
        match self.since {
            None => self.since = Some((now, bytes)),
            Some((then, before)) if now.duration_since(then) >= RATE_WINDOW => {
                let seconds = now.duration_since(then).as_secs_f64();
                // RTP headers, SRTP and UDP add about a tenth to the payload.
                let kbps = (bytes - before) as f64 * 8.0 * 1.1 / 1000.0 / seconds;
                self.kbps = Some(self.kbps.map_or(kbps, |old| old * 0.6 + kbps * 0.4));
                self.since = Some((now, bytes));
            }
            Some(_) => {}
        }
        self.kbps
    }
}

/// A snapshot of one layer.
#[derive(Clone, Copy, Debug)]
pub struct LayerReading {
    /// Its bitrate lately, headers included; `None` until measured.
    pub kbps: Option<f64>,
    /// Packets came within the last [`LAYER_IDLE`], and the publisher did
    /// not say it stops sending it.
    pub active: bool,
    pub height: u32,
}

/// A layer the publisher sent nothing on for this long is off (its uplink
/// has no room for it, or its camera is off).
pub const LAYER_IDLE: Duration = Duration::from_millis(1500);

pub struct Forwarder {
    pub publisher: ConnId,
    pub kind: TrackKind,
    packets: broadcast::Sender<LayerPacket>,
    open: AtomicBool,
    started: Instant,
    layers: [Layer; MAX_LEVELS],
    /// The largest layer the publisher says it sends (`set_sent_layers`).
    largest_sent: AtomicU8,
}

impl Forwarder {
    /// A forwarder for `publisher`'s track of `kind`; its layers come with [`Forwarder::add_layer`].
    pub fn new(publisher: ConnId, kind: TrackKind, open: bool) -> Arc<Self> {
        let (packets, _) = broadcast::channel(FANOUT_QUEUE);
        Arc::new(Self {
            publisher,
            kind,
            packets,
            open: AtomicBool::new(open),
            started: Instant::now(),
            layers: Default::default(),
            largest_sent: AtomicU8::new(0),
        })
    }

    /// The publisher sends its layers from `level` down: the larger ones are
    /// off from now on, even while their last packets still arrive (it says
    /// so before it stops them, for viewers to move off them in time).
    pub fn set_largest_sent(&self, level: u8) {
        self.largest_sent.store(level, Ordering::Relaxed);
    }

    /// Whether layer `level` already has its track.
    pub fn has_layer(&self, level: u8) -> bool {
        self.layers[usize::from(level)]
            .keyframe_requests
            .get()
            .is_some()
    }

    /// Starts forwarding `track` as layer `level`. Its task ends when the track does.
    pub fn add_layer(self: &Arc<Self>, level: u8, track: Arc<dyn TrackRemote>) {
        let layer = &self.layers[usize::from(level)];
        let (keyframe_requests, requests) = mpsc::channel(1);
        if layer.keyframe_requests.set(keyframe_requests).is_err() {
            return; // The hub makes a new forwarder for a track published again.
        }
        if self.kind.is_video() {
            // Ends when the forwarder is dropped (its sender with it).
            tokio::spawn(send_keyframe_requests(track.clone(), requests));
        }
        let pump = self.clone();
        tokio::spawn(async move {
            let publisher = pump.publisher;
            let kind = pump.kind;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    pump.arrived(level, packet);
                }
            }
            tracing::debug!(?publisher, ?kind, level, "published track ended");
        });
    }

    fn arrived(&self, level: u8, packet: rtp::Packet) {
        let layer = &self.layers[usize::from(level)];
        layer
            .bytes
            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        let ms = self.started.elapsed().as_millis() as u64;
        layer.last_packet_ms.store(ms.max(1), Ordering::Relaxed);
        let size = self
            .kind
            .is_video()
            .then(|| conclave_rtc::vp8_keyframe_size(&packet.payload))
            .flatten();
        if let Some((_, height)) = size {
            layer.height.store(u32::from(height), Ordering::Relaxed);
        }
        if self.open.load(Ordering::Relaxed) {
            // No subscribers is not an error: the packet is simply not needed.
            let _ = self.packets.send(LayerPacket {
                level,
                keyframe: size.is_some(),
                packet,
            });
        }
    }

    /// Whether the publisher has sent anything on this track yet.
    pub fn has_started(&self) -> bool {
        (self.layers.iter()).any(|layer| layer.last_packet_ms.load(Ordering::Relaxed) != 0)
    }

    /// Each layer as it is now, by level.
    pub fn layers(&self) -> [Option<LayerReading>; MAX_LEVELS] {
        let now = Instant::now();
        let now_ms = now.duration_since(self.started).as_millis() as u64;
        let largest_sent = usize::from(self.largest_sent.load(Ordering::Relaxed));
        std::array::from_fn(|level| {
            let layer = &self.layers[level];
            layer.keyframe_requests.get()?;
            let last = layer.last_packet_ms.load(Ordering::Relaxed);
            let bytes = layer.bytes.load(Ordering::Relaxed);
            Some(LayerReading {
                kbps: layer.rate.lock().unwrap().read(now, bytes),
                active: level >= largest_sent
                    && last != 0
                    && now_ms.saturating_sub(last) < LAYER_IDLE.as_millis() as u64,
                height: layer.height.load(Ordering::Relaxed),
            })
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LayerPacket> {
        self.packets.subscribe()
    }

    /// Mute gate: a muted member's media stops at the server too.
    pub fn set_open(&self, open: bool) {
        let was_open = self.open.swap(open, Ordering::Relaxed);
        if open && !was_open {
            // Subscribers' decoders need a fresh keyframe after the gap.
            for level in 0..MAX_LEVELS as u8 {
                self.request_keyframe(level);
            }
        }
    }

    /// Asks the publisher for a keyframe on layer `level` (video only),
    /// without waiting for it to be sent.
    pub fn request_keyframe(&self, level: u8) {
        if !self.kind.is_video() {
            return;
        }
        if let Some(requests) = self.layers[usize::from(level)].keyframe_requests.get() {
            // Full: a request is already waiting, and its PLI answers this one too.
            let _ = requests.try_send(());
        }
    }
}

/// Sends the publisher a PLI for the requests, at most one per [`KEYFRAME_REQUEST_INTERVAL`].
async fn send_keyframe_requests(track: Arc<dyn TrackRemote>, requests: mpsc::Receiver<()>) {
    coalesce(requests, KEYFRAME_REQUEST_INTERVAL, || {
        let track = track.clone();
        async move {
            let Some(&media_ssrc) = track.ssrcs().await.first() else {
                return;
            };
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!(%err, "keyframe request to publisher failed");
            }
        }
    })
    .await
}

/// Calls `send` for the requests, at most once per `interval`. A request that
/// comes sooner is not dropped: it is sent when the interval is over, and
/// every request that came meanwhile is answered by that one call. (A new
/// subscriber's request must not be lost because another one asked just
/// before: its decoder would wait for the publisher's next periodic keyframe.)
async fn coalesce<F, Fut>(mut requests: mpsc::Receiver<()>, interval: Duration, mut send: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut last: Option<tokio::time::Instant> = None;
    while requests.recv().await.is_some() {
        if let Some(at) = last {
            tokio::time::sleep_until(at + interval).await;
        }
        // Whatever was asked while waiting is answered by this one.
        while requests.try_recv().is_ok() {}
        last = Some(tokio::time::Instant::now());
        send().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_request_within_the_interval_is_sent_at_its_end_not_dropped() {
        let interval = Duration::from_millis(150);
        let (tx, rx) = mpsc::channel(1);
        let start = tokio::time::Instant::now();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        let task = tokio::spawn(coalesce(rx, interval, move || {
            record.lock().unwrap().push(start.elapsed());
            async {}
        }));
        let _ = tx.try_send(());
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Two more within the interval: one call answers both.
        let _ = tx.try_send(());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = tx.try_send(());
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Long after: sent at once.
        let asked = start.elapsed();
        let _ = tx.try_send(());
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(tx);
        task.await.unwrap();

        let sent = sent.lock().unwrap().clone();
        assert_eq!(
            sent.len(),
            3,
            "one at once, one coalesced, one later: {sent:?}"
        );
        assert!(sent[0] < Duration::from_millis(30), "{sent:?}");
        assert!(
            sent[1] >= interval && sent[1] < interval + Duration::from_millis(100),
            "the coalesced request goes out when the interval ends: {sent:?}"
        );
        assert!(sent[2] - asked < Duration::from_millis(40), "{sent:?}");
    }
}
