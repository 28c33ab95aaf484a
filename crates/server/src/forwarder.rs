//! One published track, fanned out to its subscribers without transcoding.
//!
//! The forwarder reads RTP from the publisher's remote track and hands each
//! packet to every subscriber through a broadcast channel (payloads are
//! reference-counted, so the fan-out copies no media). Keyframe requests from
//! subscribers come back through [`Forwarder::request_keyframe`], throttled,
//! as one PLI to the publisher. The throttle coalesces, it never drops: a
//! request within the interval after a PLI is sent at the interval's end.
//! Asking never waits: the PLI is written by the forwarder's own task, so
//! neither the hub nor a subscriber's packet pump waits on the publisher's
//! connection.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    /// To the task that sends the publisher keyframe requests; one waits at
    /// most, and it stands for every request made until it is sent.
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
            // Full: a request is already waiting, and its PLI answers this one too.
            let _ = self.keyframe_requests.try_send(());
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
