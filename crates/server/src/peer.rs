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

use conclave_rtc::MediaNetwork;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

use crate::forwarder::Forwarder;
use crate::hub::{HubInput, Outbox};
use crate::rooms::ConnId;

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
        match conclave_rtc::track_kind(&id) {
            Some(kind) => {
                let _ = self.hub.send(HubInput::Published {
                    conn: self.conn,
                    kind,
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
}

/// The member's peer connection and what it sends to the member.
struct Media {
    conn: ConnId,
    pc: Arc<dyn PeerConnection>,
    slots: Vec<SendSlot>,
    subscriptions: HashMap<(ConnId, TrackKind), Subscription>,
    /// Numbers the forwarded tracks' ids, so no id comes twice.
    tracks_made: u64,
    receive_slots: usize,
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
    let pc = conclave_rtc::build_peer(network, relays, events).await?;
    let mut media = Media {
        conn,
        pc,
        slots: Vec::new(),
        subscriptions: HashMap::new(),
        tracks_made: 0,
        receive_slots: 0,
    };
    // Two slots the member publishes into: microphone and camera.
    media.add_receive_slot(RtpCodecKind::Audio).await?;
    media.add_receive_slot(RtpCodecKind::Video).await?;

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
        let Some(command) = commands.recv().await else {
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
        let pump = tokio::spawn(pump(
            forwarder.subscribe(),
            track.clone(),
            forwarder.clone(),
            send_slot.ssrc,
            send_slot.last_sequence.clone(),
            negotiated.clone(),
        ));
        let feedback = tokio::spawn(relay_keyframe_requests(track, forwarder.clone()));
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
            },
        );
        Ok(())
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
                subscription.forwarder.request_keyframe();
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

/// Forwards the publisher's packets on a slot, once negotiated: with the
/// slot's SSRC, sequence numbers carrying on from the slot's last track, and
/// no header extensions (they name the publisher's own mids; left in, they
/// would route the packet to the wrong track at the subscriber).
async fn pump(
    mut packets: broadcast::Receiver<rtp::Packet>,
    track: Arc<TrackLocalStaticRTP>,
    forwarder: Arc<Forwarder>,
    ssrc: u32,
    last_sequence: Arc<AtomicU32>,
    negotiated: Arc<AtomicBool>,
) {
    let mut offset: Option<u16> = None;
    let mut highest: Option<u16> = None;
    loop {
        match packets.recv().await {
            Ok(mut packet) => {
                if !negotiated.load(Ordering::Relaxed) {
                    continue; // The subscriber does not know this SSRC yet.
                }
                let first = packet.header.sequence_number;
                let offset =
                    *offset.get_or_insert_with(|| match last_sequence.load(Ordering::Relaxed) {
                        NO_SEQUENCE => 0,
                        last => (last as u16).wrapping_add(1).wrapping_sub(first),
                    });
                let sequence = packet.header.sequence_number.wrapping_add(offset);
                packet.header.sequence_number = sequence;
                packet.header.ssrc = ssrc;
                packet.header.extension = false;
                packet.header.extensions.clear();
                // Before the write: should this task be stopped during it, the
                // next track skips a number rather than repeating one.
                if highest.is_none_or(|h| (sequence.wrapping_sub(h) as i16) > 0) {
                    highest = Some(sequence);
                    last_sequence.store(sequence as u32, Ordering::Relaxed);
                }
                // Fails only while the connection closes; this task is stopped then.
                let _ = track.write_rtp(packet).await;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => forwarder.request_keyframe(),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The subscriber's keyframe requests (PLI, FIR) go to the publisher.
async fn relay_keyframe_requests(track: Arc<TrackLocalStaticRTP>, forwarder: Arc<Forwarder>) {
    while let Some(event) = track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            forwarder.request_keyframe();
        }
    }
}
