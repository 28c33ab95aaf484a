//! One published track, fanned out to its subscribers without transcoding.
//!
//! The forwarder reads RTP from the publisher's remote track and hands each
//! packet to every subscriber through a broadcast channel (payloads are
//! reference-counted, so the fan-out copies no media). Keyframe requests from
//! subscribers come back through [`Forwarder::request_keyframe`], throttled,
//! as one PLI to the publisher. Asking never waits: the PLI is written by the
//! forwarder's own task, so neither the hub nor a subscriber's packet pump
//! waits on the publisher's connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conclave_protocol::TrackKind;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use tokio::sync::{broadcast, mpsc};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::rooms::ConnId;

/// Enough for a keyframe burst at 720p without a slow subscriber lagging.
const FANOUT_QUEUE: usize = 512;
/// A publisher need not encode more than a few keyframes per second, however many subscribers ask.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

pub struct Forwarder {
    pub publisher: ConnId,
    pub kind: TrackKind,
    packets: broadcast::Sender<rtp::Packet>,
    open: AtomicBool,
    /// To the task that sends the publisher keyframe requests; one waits at most.
    keyframe_requests: mpsc::Sender<()>,
}

impl Forwarder {
    /// Starts forwarding `track`. The task ends when the track does.
    pub fn start(
        publisher: ConnId,
        kind: TrackKind,
        track: Arc<dyn TrackRemote>,
        open: bool,
    ) -> Arc<Self> {
        let (packets, _) = broadcast::channel(FANOUT_QUEUE);
        let (keyframe_requests, requests) = mpsc::channel(1);
        let forwarder = Arc::new(Self {
            publisher,
            kind,
            packets,
            open: AtomicBool::new(open),
            keyframe_requests,
        });
        if kind.is_video() {
            // Ends when the forwarder is dropped (its sender with it).
            tokio::spawn(send_keyframe_requests(track.clone(), requests));
        }
        let pump = forwarder.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event
                    && pump.open.load(Ordering::Relaxed)
                {
                    // No subscribers is not an error: the packet is simply not needed.
                    let _ = pump.packets.send(packet);
                }
            }
            tracing::debug!(?publisher, ?kind, "published track ended");
        });
        forwarder
    }

    pub fn subscribe(&self) -> broadcast::Receiver<rtp::Packet> {
        self.packets.subscribe()
    }

    /// Mute gate: a muted member's media stops at the server too.
    pub fn set_open(&self, open: bool) {
        let was_open = self.open.swap(open, Ordering::Relaxed);
        if open && !was_open {
            // Subscribers' decoders need a fresh keyframe after the gap.
            self.request_keyframe();
        }
    }

    /// Asks the publisher for a keyframe (video only), without waiting for it to be sent.
    pub fn request_keyframe(&self) {
        if self.kind.is_video() {
            // Full: a request is already waiting, and this one would be throttled anyway.
            let _ = self.keyframe_requests.try_send(());
        }
    }
}

/// Sends the publisher one PLI per request, at most one per [`KEYFRAME_REQUEST_INTERVAL`].
async fn send_keyframe_requests(track: Arc<dyn TrackRemote>, mut requests: mpsc::Receiver<()>) {
    let mut last: Option<Instant> = None;
    while requests.recv().await.is_some() {
        if last.is_some_and(|at| at.elapsed() < KEYFRAME_REQUEST_INTERVAL) {
            continue;
        }
        last = Some(Instant::now());
        let Some(&media_ssrc) = track.ssrcs().await.first() else {
            continue;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(%err, "keyframe request to publisher failed");
        }
    }
}
