//! One member's WebRTC connection to the SFU.
//!
//! A task per member owns its peer connection. The server is always the SDP
//! offerer, so there is never glare: changes (a new subscription, a removed
//! one, a screen slot) mark the session dirty, and the task sends one new
//! offer whenever it is dirty and no earlier offer awaits its answer.
//!
//! Forwarded tracks go out on **send slots**, a transceiver (m-section) each,
//! and slots are recycled. When a subscription ends, its slot goes idle: its
//! track is removed and it is offered `inactive`. The next subscription of the
//! same media kind (audio, or video: camera and screen alike) takes an idle
//! slot over, with a new track id in its msid, before a new slot is added. So
//! a member's SDP holds as many m-sections as the room had tracks at its
//! fullest, not one for every track ever forwarded to it.
//!
//! A recycled slot keeps its SSRC and carries on its RTP sequence numbers
//! (as a browser's `replaceTrack` does). The receiver's per-SSRC state
//! (SRTP, receiver reports, NACK) then simply carries on, and none is left
//! behind per recycle; receivers tell the tracks apart by track id, which is
//! never reused in a connection (see [`conclave_rtc::forwarded_track_id`]).
//!
//! A subscription forwards nothing until the subscriber's answer to the first
//! offer carrying it has been applied: only then is its m-section set up at
//! both ends, so that is when the publisher is asked for a keyframe.
//!
//! Of a simulcast camera, a subscription forwards one layer: the one
//! [`crate::allocation`] picks from this connection's downlink estimate
//! (congestion control on the subscriber's TWCC feedback) and the tile size
//! the subscriber asked for. The pump switches layers at a keyframe of the
//! new one, and rewrites sequence numbers and timestamps so the subscriber
//! sees one continuous stream.

use conclave_rtc::{Bandwidth, MediaNetwork, PublishedTrack};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::Instant;

use conclave_protocol::{ErrorCode, ErrorInfo, IceServer, MemberId, ServerMessage, TrackKind};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::allocation::{self, Allocator, Demand, LayerInfo};
use crate::forwarder::{Forwarder, LayerPacket};
use crate::hub::{HubInput, Outbox};
use crate::quality::{LinkReading, quality};
use crate::rooms::ConnId;
use crate::rooms::LinkReport;

pub enum PeerCommand {
    Subscribe {
        forwarder: Arc<Forwarder>,
        publisher_id: MemberId,
    },
    Unsubscribe {
        publisher: ConnId,
        kind: TrackKind,
    },
    AddScreenSlot,
    /// The subscriber shows this video in a tile this tall (0: not shown).
    VideoSize {
        publisher: ConnId,
        kind: TrackKind,
        height: u32,
    },
    Answer(String),
    /// The next offer carries new ICE credentials.
    RestartIce,
}

/// The hub's handle on a member's media task. Dropping it closes the peer connection.
pub struct PeerHandle {
    commands: mpsc::UnboundedSender<PeerCommand>,
}

impl PeerHandle {
    pub fn send(&self, command: PeerCommand) {
        // A closed task means the member is leaving; nothing to do.
        let _ = self.commands.send(command);
    }
}

pub fn spawn(
    conn: ConnId,
    network: MediaNetwork,
    relays: Vec<IceServer>,
    outbox: Outbox,
    hub: mpsc::UnboundedSender<HubInput>,
) -> PeerHandle {
    let (commands, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Err(err) = run(conn, network, &relays, &outbox, hub, rx).await {
            tracing::warn!(?conn, %err, "media session failed");
            let error = ErrorInfo::new(
                ErrorCode::MediaFailed,
                format!("media session failed: {err}"),
            );
            outbox.send(ServerMessage::Error { id: None, error });
        }
    });
    PeerHandle { commands }
}

/// Reports the peer connection's events to the member's task and the hub.
struct Events {
    conn: ConnId,
    hub: mpsc::UnboundedSender<HubInput>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(conn = ?self.conn, %state, "media connection state");
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let id = track.track_id().await;
        match PublishedTrack::parse(&id) {
            Some(PublishedTrack { kind, level }) => {
                let _ = self.hub.send(HubInput::Published {
                    conn: self.conn,
                    kind,
                    level,
                    track,
                });
            }
            None => tracing::warn!(conn = ?self.conn, %id, "ignoring a track with an unknown id"),
        }
    }
}

/// No packet has been sent on a slot yet.
const NO_SEQUENCE: u32 = u32::MAX;

/// A transceiver that sends forwarded tracks to this member, one at a time.
struct SendSlot {
    /// The transceiver's index in the peer connection.
    transceiver: usize,
    kind: RtpCodecKind,
    ssrc: u32,
    /// The highest sequence number sent on it (or [`NO_SEQUENCE`]), so that
    /// the next track on it carries on from there.
    last_sequence: Arc<AtomicU32>,
    busy: bool,
}

struct Subscription {
    /// Index into the session's slots.
    slot: usize,
    forwarder: Arc<Forwarder>,
    sender: Arc<dyn RtpSender>,
    pump: JoinHandle<()>,
    feedback: JoinHandle<()>,
    /// In an offer sent since it began.
    offered: bool,
    /// The subscriber applied an offer carrying it and we applied its answer.
    negotiated: Arc<AtomicBool>,
    /// The layer to forward ([`NO_LAYER`]: none), set by the allocation.
    level: Arc<AtomicU8>,
    tile_height: Option<u32>,
}

/// No layer is forwarded (the video is not shown).
const NO_LAYER: u8 = u8::MAX;

/// A subscriber's downlink estimate starts here (above most rooms' needs,
/// so nobody starts small; a poor link is found within seconds), and may
/// grow to the max.
const DOWNLINK_INITIAL_BPS: f64 = 4_000_000.0;
const DOWNLINK_MAX_BPS: f64 = 50_000_000.0;
/// Kept free of video: the audio streams and RTCP.
const AUDIO_KBPS: u32 = 48;

/// The member's peer connection and what it sends to the member.
struct Media {
    conn: ConnId,
    pc: Arc<dyn PeerConnection>,
    slots: Vec<SendSlot>,
    subscriptions: HashMap<(ConnId, TrackKind), Subscription>,
    /// Numbers the forwarded tracks' ids, so no id comes twice.
    tracks_made: u64,
    receive_slots: usize,
    downlink: Bandwidth,
    allocator: Allocator,
    hub: mpsc::UnboundedSender<HubInput>,
    /// The layers last reported to the member.
    layers_told: Vec<(ConnId, TrackKind, Option<u8>)>,
    /// Counters at the last link report.
    link: LinkCounters,
}

/// How soon the allocation runs again while a video waits for its first layer.
const FIRST_LAYER_POLL: std::time::Duration = std::time::Duration::from_millis(40);

/// How often the member's link is measured and its quality reported.
const LINK_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Default)]
struct LinkCounters {
    packets_received: u64,
    packets_lost: i64,
    downlink_reports: u64,
}

async fn run(
    conn: ConnId,
    network: MediaNetwork,
    relays: &[IceServer],
    outbox: &Outbox,
    hub: mpsc::UnboundedSender<HubInput>,
    mut commands: mpsc::UnboundedReceiver<PeerCommand>,
) -> anyhow::Result<()> {
    let (gathered_tx, mut gathered) = watch::channel(false);
    let offers = hub.clone();
    let events = Arc::new(Events {
        conn,
        hub,
        gathered: gathered_tx,
    });
    let downlink = Bandwidth::unpaced(DOWNLINK_INITIAL_BPS, DOWNLINK_MAX_BPS);
    let pc = conclave_rtc::build_peer(network, relays, events, &downlink).await?;
    let mut media = Media {
        conn,
        pc,
        slots: Vec::new(),
        subscriptions: HashMap::new(),
        tracks_made: 0,
        receive_slots: 0,
        downlink,
        allocator: Allocator::default(),
        hub: offers.clone(),
        layers_told: Vec::new(),
        link: LinkCounters::default(),
    };
    // The slots the member publishes into: microphone, and camera in each of its layers.
    media.add_receive_slot(RtpCodecKind::Audio).await?;
    for _ in 0..conclave_rtc::CAMERA_LEVELS {
        media.add_receive_slot(RtpCodecKind::Video).await?;
    }
    let mut allocation = tokio::time::interval(allocation::ALLOCATION_INTERVAL);
    allocation.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut link_report = tokio::time::interval(LINK_REPORT_INTERVAL);
    link_report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    link_report.tick().await; // the first tick is at once: nothing to report yet
    let mut first_layer_poll = tokio::time::interval(FIRST_LAYER_POLL);
    first_layer_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let mut dirty = true;
    let mut restart_ice = false;
    let mut awaiting_answer = false;
    let mut has_screen_slot = false;
    let result = loop {
        if dirty && !awaiting_answer {
            for subscription in media.subscriptions.values_mut() {
                subscription.offered = true;
            }
            let restart = std::mem::take(&mut restart_ice);
            let offer = send_offer(conn, network, restart, &media.pc, &mut gathered, &offers);
            if let Err(err) = offer.await {
                break Err(err);
            }
            dirty = false;
            awaiting_answer = true;
        }
        let command = tokio::select! {
            command = commands.recv() => command,
            _ = allocation.tick() => {
                media.allocate(Instant::now());
                continue;
            }
            _ = first_layer_poll.tick(), if media.awaits_first_layer() => {
                media.allocate(Instant::now());
                continue;
            }
            _ = link_report.tick() => {
                media.report_link().await;
                continue;
            }
        };
        let Some(command) = command else {
            break Ok(());
        };
        match command {
            PeerCommand::Subscribe {
                forwarder,
                publisher_id,
            } => {
                // A failed subscription may still have released an older one.
                dirty = true;
                if let Err(err) = media.subscribe(forwarder, &publisher_id).await {
                    tracing::warn!(?conn, %err, "could not subscribe");
                }
            }
            PeerCommand::Unsubscribe { publisher, kind } => {
                if let Some(old) = media.subscriptions.remove(&(publisher, kind)) {
                    media.release(old).await;
                    dirty = true;
                }
            }
            PeerCommand::VideoSize {
                publisher,
                kind,
                height,
            } => {
                if let Some(subscription) = media.subscriptions.get_mut(&(publisher, kind)) {
                    subscription.tile_height = Some(height);
                    media.allocate(Instant::now());
                }
            }
            PeerCommand::RestartIce => {
                restart_ice = true;
                dirty = true;
            }
            PeerCommand::AddScreenSlot => {
                if !has_screen_slot {
                    media.add_receive_slot(RtpCodecKind::Video).await?;
                    has_screen_slot = true;
                    dirty = true;
                }
            }
            PeerCommand::Answer(sdp) => {
                if !awaiting_answer {
                    outbox.send(ServerMessage::Error {
                        id: None,
                        error: ErrorInfo::new(
                            ErrorCode::InvalidSdp,
                            "no offer is waiting for an answer",
                        ),
                    });
                    continue;
                }
                let applied = match RTCSessionDescription::answer(sdp) {
                    Ok(answer) => media
                        .pc
                        .set_remote_description(answer)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(err) => Err(err.into()),
                };
                match applied {
                    Ok(()) => {
                        awaiting_answer = false;
                        media.answered();
                    }
                    Err(err) => outbox.send(ServerMessage::Error {
                        id: None,
                        error: ErrorInfo::new(
                            ErrorCode::InvalidSdp,
                            format!("answer rejected: {err}"),
                        ),
                    }),
                }
            }
        }
    };
    for (_, subscription) in media.subscriptions.drain() {
        subscription.pump.abort();
        subscription.feedback.abort();
    }
    let _ = media.pc.close().await;
    result
}

impl Media {
    /// A slot the member publishes into (recvonly from the server's side).
    ///
    /// It has a placeholder sender that has no encodings, so it never sends
    /// and the offer shows only its msid: `add_track` (how a send slot is
    /// recycled) takes the first transceiver of its kind that has no sender,
    /// and that must be an idle send slot, never a slot the member publishes into.
    async fn add_receive_slot(&mut self, kind: RtpCodecKind) -> anyhow::Result<()> {
        let placeholder = MediaStreamTrack::new(
            "-".to_owned(),
            format!("publish-slot-{}", self.receive_slots),
            format!("publish-slot-{}", self.receive_slots),
            kind,
            vec![],
        );
        self.receive_slots += 1;
        // A track-backed transceiver must start with a sending direction.
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendrecv,
            streams: vec![],
            send_encodings: vec![],
        };
        let transceiver = self
            .pc
            .add_transceiver_from_track(Arc::new(TrackLocalStaticRTP::new(placeholder)), Some(init))
            .await?;
        transceiver
            .set_direction(RTCRtpTransceiverDirection::Recvonly)
            .await?;
        Ok(())
    }

    /// Starts forwarding `forwarder`'s track to this member, on an idle send
    /// slot of its kind if there is one, else on a new one.
    async fn subscribe(
        &mut self,
        forwarder: Arc<Forwarder>,
        publisher_id: &MemberId,
    ) -> anyhow::Result<()> {
        let key = (forwarder.publisher, forwarder.kind);
        if let Some(old) = self.subscriptions.remove(&key) {
            self.release(old).await;
        }
        let kind = if forwarder.kind.is_video() {
            RtpCodecKind::Video
        } else {
            RtpCodecKind::Audio
        };
        self.tracks_made += 1;
        let instance = self.tracks_made;
        let idle = self.slots.iter().position(|s| !s.busy && s.kind == kind);
        let (slot, sender, track) = match idle {
            Some(slot) => {
                let ssrc = self.slots[slot].ssrc;
                let track =
                    conclave_rtc::forwarding_track(publisher_id, instance, forwarder.kind, ssrc);
                // Takes the first transceiver of this kind without a sender:
                // the first idle slot, as slots are in transceiver order.
                let sender = self
                    .pc
                    .add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await?;
                let taken: usize = sender.id().into();
                if taken != self.slots[slot].transceiver {
                    let _ = self.pc.remove_track(&sender).await;
                    anyhow::bail!(
                        "add_track took transceiver {taken}, not the idle slot {}",
                        self.slots[slot].transceiver
                    );
                }
                (slot, sender, track)
            }
            None => {
                let ssrc = self.fresh_ssrc();
                let track =
                    conclave_rtc::forwarding_track(publisher_id, instance, forwarder.kind, ssrc);
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![],
                    send_encodings: vec![],
                };
                let transceiver = self
                    .pc
                    .add_transceiver_from_track(track.clone() as Arc<dyn TrackLocal>, Some(init))
                    .await?;
                let sender = transceiver
                    .sender()
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("a track transceiver without a sender"))?;
                self.slots.push(SendSlot {
                    transceiver: transceiver.id(),
                    kind,
                    ssrc,
                    last_sequence: Arc::new(AtomicU32::new(NO_SEQUENCE)),
                    busy: false,
                });
                (self.slots.len() - 1, sender, track)
            }
        };
        let send_slot = &mut self.slots[slot];
        send_slot.busy = true;
        tracing::debug!(
            conn = ?self.conn,
            publisher = %publisher_id,
            kind = forwarder.kind.as_str(),
            transceiver = send_slot.transceiver,
            reused = idle.is_some(),
            "subscribed"
        );
        let negotiated = Arc::new(AtomicBool::new(false));
        // A video's layer is the allocation's to pick (at once, below); audio has one.
        let first = if forwarder.kind.is_video() {
            NO_LAYER
        } else {
            0
        };
        let level = Arc::new(AtomicU8::new(first));
        let pump = tokio::spawn(pump(
            forwarder.subscribe(),
            track.clone(),
            forwarder.clone(),
            send_slot.ssrc,
            send_slot.last_sequence.clone(),
            negotiated.clone(),
            level.clone(),
        ));
        let feedback = tokio::spawn(relay_keyframe_requests(
            track,
            forwarder.clone(),
            level.clone(),
        ));
        self.subscriptions.insert(
            key,
            Subscription {
                slot,
                forwarder,
                sender,
                pump,
                feedback,
                offered: false,
                negotiated,
                level,
                tile_height: None,
            },
        );
        self.allocate(Instant::now());
        Ok(())
    }

    /// A video subscription's publisher has sent nothing on it yet: the
    /// allocation runs again soon ([`FIRST_LAYER_POLL`]), so the video starts
    /// with the publisher's first keyframe rather than at the next round.
    fn awaits_first_layer(&self) -> bool {
        (self.subscriptions.values())
            .any(|s| s.forwarder.kind.is_video() && !s.forwarder.has_started())
    }

    /// Picks each video subscription's layer afresh (see [`crate::allocation`]).
    fn allocate(&mut self, now: Instant) {
        let subscriptions = self.subscriptions.len() as u32;
        let mut videos: Vec<&Subscription> = (self.subscriptions.values())
            .filter(|s| s.forwarder.kind.is_video())
            .collect();
        // Screen shares first: they are what the room looks at.
        videos.sort_by_key(|s| (s.forwarder.kind != TrackKind::Screen, s.forwarder.publisher));
        let audio = subscriptions - videos.len() as u32;
        let demands: Vec<Demand> = (videos.iter())
            .map(|subscription| {
                let readings = subscription.forwarder.layers();
                // A layer not measured yet (its first moments) is left out,
                // unless none is: then the smallest, whatever it costs.
                let measured = readings
                    .iter()
                    .flatten()
                    .any(|r| r.active && r.kbps.is_some());
                let smallest = (0..readings.len())
                    .rev()
                    .find(|level| readings[*level].is_some_and(|r| r.active));
                if subscription.tile_height.is_some_and(|h| h > 0) {
                    // Which layer fills the tile depends on the layers' sizes,
                    // which their keyframes tell: ask for one where none was seen.
                    for (level, reading) in readings.iter().enumerate() {
                        if reading.is_some_and(|r| r.active && r.height == 0) {
                            subscription.forwarder.request_keyframe(level as u8);
                        }
                    }
                }
                let layers = std::array::from_fn(|level| {
                    let reading = readings[level]?;
                    let usable = reading.active
                        && (reading.kbps.is_some() || !measured && Some(level) == smallest);
                    usable.then_some(LayerInfo {
                        kbps: reading.kbps.unwrap_or(0.0) as u32,
                        height: reading.height,
                    })
                });
                Demand {
                    layers,
                    tile_height: subscription.tile_height,
                }
            })
            .collect();
        let current: Vec<Option<u8>> = (videos.iter())
            .map(|s| match s.level.load(Ordering::Relaxed) {
                NO_LAYER => None,
                level => Some(level),
            })
            .collect();
        let budget = (self.downlink.target_bps() / 1000.0 * 0.95) as u32;
        let budget = budget.saturating_sub(audio * AUDIO_KBPS);
        let chosen = self.allocator.allocate(now, budget, &demands, &current);
        if chosen != current {
            tracing::debug!(
                conn = ?self.conn,
                estimate_kbps = self.downlink.target_bps() / 1000.0,
                loss = ?self.downlink.loss(),
                ?current,
                ?chosen,
                "layers"
            );
        }
        let layers: Vec<(ConnId, TrackKind, Option<u8>)> = (videos.iter().zip(&chosen))
            .map(|(s, level)| (s.forwarder.publisher, s.forwarder.kind, *level))
            .collect();
        for ((subscription, new), old) in videos.iter().zip(chosen).zip(current) {
            if new == old {
                continue;
            }
            let level = new.unwrap_or(NO_LAYER);
            subscription.level.store(level, Ordering::Relaxed);
            if let Some(level) = new
                && subscription.negotiated.load(Ordering::Relaxed)
            {
                // The switch happens at the new layer's next keyframe: ask for one.
                subscription.forwarder.request_keyframe(level);
            }
        }
        if layers != self.layers_told {
            self.layers_told = layers.clone();
            let conn = self.conn;
            let _ = self.hub.send(HubInput::Layers { conn, layers });
        }
    }

    /// Measures the member's link over the last period (loss each way, the
    /// round trip) and reports it to the hub, which tells the room.
    async fn report_link(&mut self) {
        let now = Instant::now();
        let stats = (self.pc)
            .get_stats(now, rtc::statistics::StatsSelector::None)
            .await;
        let (mut received, mut lost) = (0u64, 0i64);
        for inbound in stats.inbound_rtp_streams() {
            received += inbound.received_rtp_stream_stats.packets_received;
            lost += inbound.received_rtp_stream_stats.packets_lost;
        }
        let rtt_ms = conclave_rtc::round_trip_ms(&stats);
        let reports = self.downlink.reports();
        let got = received.saturating_sub(self.link.packets_received);
        let missing = (lost - self.link.packets_lost).max(0) as u64;
        let new_reports = reports.saturating_sub(self.link.downlink_reports);
        self.link = LinkCounters {
            packets_received: received,
            packets_lost: lost,
            downlink_reports: reports,
        };
        let publishes = received > 0;
        let is_sent_media = !self.subscriptions.is_empty();
        let reading = LinkReading {
            uplink_loss: (got + missing > 0).then(|| missing as f64 / (got + missing) as f64),
            downlink_loss: is_sent_media.then(|| self.downlink.loss()).flatten(),
            rtt_ms,
            silent: (publishes || is_sent_media) && got == 0 && new_reports == 0,
            congested: self.allocator.congested(now),
        };
        let report = LinkReport {
            quality: quality(&reading),
            downlink_slow: reading.congested,
            downlink_kbps: (self.downlink.target_bps() / 1000.0) as u32,
        };
        let conn = self.conn;
        let _ = self.hub.send(HubInput::Link { conn, report });
    }

    /// Stops a subscription; its slot goes idle (no track, `inactive` in the next offer).
    async fn release(&mut self, subscription: Subscription) {
        subscription.pump.abort();
        subscription.feedback.abort();
        if let Err(err) = self.pc.remove_track(&subscription.sender).await {
            tracing::debug!(%err, "remove_track failed");
        }
        self.slots[subscription.slot].busy = false;
    }

    /// An answer was applied: subscriptions it carries start to flow, each
    /// from a keyframe (asked for now, when the subscriber can receive it).
    fn answered(&mut self) {
        for subscription in self.subscriptions.values_mut() {
            if subscription.offered && !subscription.negotiated.swap(true, Ordering::Relaxed) {
                let level = subscription.level.load(Ordering::Relaxed);
                if level != NO_LAYER {
                    subscription.forwarder.request_keyframe(level);
                }
            }
        }
    }

    fn fresh_ssrc(&self) -> u32 {
        loop {
            let ssrc = rand::random::<u32>();
            if ssrc != 0 && !self.slots.iter().any(|s| s.ssrc == ssrc) {
                return ssrc;
            }
        }
    }
}

/// Makes the next offer; the hub sends it, through the room state (which
/// checks the member's answer against it).
async fn send_offer(
    conn: ConnId,
    network: MediaNetwork,
    ice_restart: bool,
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
    hub: &mpsc::UnboundedSender<HubInput>,
) -> anyhow::Result<()> {
    let options = ice_restart.then(|| RTCOfferOptions {
        ice_restart: true,
        ..Default::default()
    });
    let offer = pc.create_offer(options).await?;
    pc.set_local_description(offer).await?;
    // Non-trickle: the candidates go inside the SDP, so wait for them once.
    let _ = tokio::time::timeout(
        conclave_rtc::GATHER_TIMEOUT,
        gathered.wait_for(|done| *done),
    )
    .await;
    let sdp = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no local description"))?
        .sdp;
    let sdp = network.announced(&sdp);
    let _ = hub.send(HubInput::Offered { conn, sdp });
    Ok(())
}

/// Forwards the publisher's packets on a slot, once negotiated: those of
/// the chosen layer (`level`), switching at a keyframe of a newly chosen
/// one; with the slot's SSRC, sequence numbers carrying on from the slot's
/// last track and across layers, timestamps carrying on across layers, and
/// no header extensions (they name the publisher's own mids; left in, they
/// would route the packet to the wrong track at the subscriber).
async fn pump(
    mut packets: broadcast::Receiver<LayerPacket>,
    track: Arc<TrackLocalStaticRTP>,
    forwarder: Arc<Forwarder>,
    ssrc: u32,
    last_sequence: Arc<AtomicU32>,
    negotiated: Arc<AtomicBool>,
    level: Arc<AtomicU8>,
) {
    let mut layer = LayerRewrite::default();
    loop {
        match packets.recv().await {
            Ok(LayerPacket {
                level: from,
                keyframe,
                mut packet,
            }) => {
                if !negotiated.load(Ordering::Relaxed) {
                    continue; // The subscriber does not know this SSRC yet.
                }
                let wanted = level.load(Ordering::Relaxed);
                if wanted == NO_LAYER {
                    layer.current = None; // Not shown: nothing, until a layer is wanted again.
                    continue;
                }
                if layer.current != Some(wanted) && forwarder.kind.is_video() {
                    // A keyframe request can be lost on the way: ask again while waiting.
                    let now = Instant::now();
                    if layer
                        .asked
                        .is_none_or(|at| now.duration_since(at) >= KEYFRAME_RETRY)
                    {
                        layer.asked = Some(now);
                        forwarder.request_keyframe(wanted);
                    }
                }
                if layer.current != Some(from) {
                    // Audio has one layer, and every packet of it will do.
                    let switch = from == wanted && (keyframe || !forwarder.kind.is_video());
                    if !switch {
                        continue;
                    }
                    layer.switch_to(from, &packet, &last_sequence);
                    layer.asked = None;
                }
                let sequence = layer.rewrite(&mut packet);
                packet.header.ssrc = ssrc;
                // The congestion control interceptor adds its own (TWCC) after.
                packet.header.extension = false;
                packet.header.extensions.clear();
                packet.header.extensions_padding = 0;
                // Before the write: should this task be stopped during it, the
                // next track skips a number rather than repeating one.
                if layer.is_newest(sequence) {
                    last_sequence.store(sequence as u32, Ordering::Relaxed);
                }
                // Fails only while the connection closes; this task is stopped then.
                let _ = track.write_rtp(packet).await;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let current = level.load(Ordering::Relaxed);
                if current != NO_LAYER {
                    forwarder.request_keyframe(current);
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// While a subscription waits for a keyframe of the layer it switches to
/// (or starts with), it asks the publisher again this often.
const KEYFRAME_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// How one subscription's outgoing stream continues across layers.
#[derive(Default)]
struct LayerRewrite {
    current: Option<u8>,
    /// When a keyframe of the wanted layer was last asked for.
    asked: Option<Instant>,
    sequence_offset: u16,
    timestamp_offset: u32,
    /// The highest sequence number and the latest timestamp sent, and when.
    highest: Option<u16>,
    last_timestamp: Option<(u32, Instant)>,
}

impl LayerRewrite {
    /// From `first` on, packets of layer `level` go out, numbered after the
    /// slot's last packet and stamped after the last picture sent.
    fn switch_to(&mut self, level: u8, first: &rtp::Packet, last_sequence: &AtomicU32) {
        self.current = Some(level);
        self.sequence_offset = match last_sequence.load(Ordering::Relaxed) {
            NO_SEQUENCE => 0,
            last => (last as u16)
                .wrapping_add(1)
                .wrapping_sub(first.header.sequence_number),
        };
        self.timestamp_offset = match self.last_timestamp {
            None => 0,
            Some((timestamp, at)) => {
                let elapsed = (at.elapsed().as_secs_f64()
                    * f64::from(conclave_rtc::VIDEO_CLOCK_RATE))
                .max(1.0) as u32;
                timestamp
                    .wrapping_add(elapsed)
                    .wrapping_sub(first.header.timestamp)
            }
        };
    }

    fn rewrite(&mut self, packet: &mut rtp::Packet) -> u16 {
        let sequence = packet
            .header
            .sequence_number
            .wrapping_add(self.sequence_offset);
        packet.header.sequence_number = sequence;
        let timestamp = packet.header.timestamp.wrapping_add(self.timestamp_offset);
        packet.header.timestamp = timestamp;
        if self.is_newest(sequence) {
            self.highest = Some(sequence);
            self.last_timestamp = Some((timestamp, Instant::now()));
        }
        sequence
    }

    fn is_newest(&self, sequence: u16) -> bool {
        self.highest
            .is_none_or(|h| (sequence.wrapping_sub(h) as i16) >= 0)
    }
}

/// The subscriber's keyframe requests (PLI, FIR) go to the publisher, for the layer it gets.
async fn relay_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    forwarder: Arc<Forwarder>,
    level: Arc<AtomicU8>,
) {
    while let Some(event) = track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            let level = level.load(Ordering::Relaxed);
            if level != NO_LAYER {
                forwarder.request_keyframe(level);
            }
        }
    }
}
