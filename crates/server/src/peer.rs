//! One member's WebRTC connection to the SFU.
//!
//! A task per member owns its peer connection. The server is always the SDP
//! offerer, so there is never glare: changes (a new subscription, a removed
//! one, a screen slot) mark the session dirty, and the task sends one new
//! offer whenever it is dirty and no earlier offer awaits its answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use conclave_protocol::{ErrorCode, ErrorInfo, MemberId, ServerMessage, TrackKind};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
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
    bind_ip: IpAddr,
    outbox: Outbox,
    hub: mpsc::UnboundedSender<HubInput>,
) -> PeerHandle {
    let (commands, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Err(err) = run(conn, bind_ip, &outbox, hub, rx).await {
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

struct Subscription {
    sender: Arc<dyn RtpSender>,
    pump: JoinHandle<()>,
}

async fn run(
    conn: ConnId,
    bind_ip: IpAddr,
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
    let pc = conclave_rtc::build_peer(bind_ip, events).await?;
    // Two slots the member publishes into: microphone and camera.
    add_receive_slot(&pc, RtpCodecKind::Audio).await?;
    add_receive_slot(&pc, RtpCodecKind::Video).await?;

    let mut subscriptions: HashMap<(ConnId, TrackKind), Subscription> = HashMap::new();
    let mut dirty = true;
    let mut awaiting_answer = false;
    let mut has_screen_slot = false;
    let result = loop {
        if dirty && !awaiting_answer {
            if let Err(err) = send_offer(conn, &pc, &mut gathered, &offers).await {
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
                let key = (forwarder.publisher, forwarder.kind);
                if let Some(old) = subscriptions.remove(&key) {
                    remove(&pc, old).await;
                }
                match subscribe(&pc, forwarder, &publisher_id).await {
                    Ok(subscription) => {
                        subscriptions.insert(key, subscription);
                        dirty = true;
                    }
                    Err(err) => tracing::warn!(?conn, %err, "could not subscribe"),
                }
            }
            PeerCommand::Unsubscribe { publisher, kind } => {
                if let Some(old) = subscriptions.remove(&(publisher, kind)) {
                    remove(&pc, old).await;
                    dirty = true;
                }
            }
            PeerCommand::AddScreenSlot => {
                if !has_screen_slot {
                    add_receive_slot(&pc, RtpCodecKind::Video).await?;
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
                    Ok(answer) => pc
                        .set_remote_description(answer)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(err) => Err(err.into()),
                };
                match applied {
                    Ok(()) => awaiting_answer = false,
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
    for (_, subscription) in subscriptions.drain() {
        subscription.pump.abort();
    }
    let _ = pc.close().await;
    result
}

async fn add_receive_slot(pc: &Arc<dyn PeerConnection>, kind: RtpCodecKind) -> anyhow::Result<()> {
    let init = RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Recvonly,
        streams: vec![],
        send_encodings: vec![],
    };
    pc.add_transceiver_from_kind(kind, Some(init)).await?;
    Ok(())
}

/// Makes the next offer; the hub sends it, through the room state (which
/// checks the member's answer against it).
async fn send_offer(
    conn: ConnId,
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
    hub: &mpsc::UnboundedSender<HubInput>,
) -> anyhow::Result<()> {
    let offer = pc.create_offer(None).await?;
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
    let _ = hub.send(HubInput::Offered { conn, sdp });
    Ok(())
}

async fn subscribe(
    pc: &Arc<dyn PeerConnection>,
    forwarder: Arc<Forwarder>,
    publisher_id: &MemberId,
) -> anyhow::Result<Subscription> {
    let (track, ssrc) = conclave_rtc::forwarding_track(publisher_id, forwarder.kind);
    // A send-only transceiver of its own: `add_track` would reuse the member's
    // receive slots (same kind, no sender yet) and break its publishing.
    let init = RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Sendonly,
        streams: vec![],
        send_encodings: vec![],
    };
    let transceiver = pc
        .add_transceiver_from_track(track.clone() as Arc<dyn TrackLocal>, Some(init))
        .await?;
    let sender = transceiver
        .sender()
        .await?
        .ok_or_else(|| anyhow::anyhow!("a track transceiver without a sender"))?;
    let mut packets = forwarder.subscribe();
    let pump = tokio::spawn(async move {
        let mut bound = false;
        let mut feedback: Option<JoinHandle<()>> = None;
        loop {
            match packets.recv().await {
                Ok(mut packet) => {
                    packet.header.ssrc = ssrc;
                    // The publisher's header extensions name its own mids; left in,
                    // they would route this packet to the wrong track at the subscriber.
                    packet.header.extension = false;
                    packet.header.extensions.clear();
                    match track.write_rtp(packet).await {
                        Ok(()) if !bound => {
                            // Negotiated: this subscriber's decoder needs a keyframe now,
                            // and from here on its keyframe requests go to the publisher.
                            bound = true;
                            forwarder.request_keyframe();
                            feedback = Some(tokio::spawn(relay_keyframe_requests(
                                track.clone(),
                                forwarder.clone(),
                            )));
                        }
                        Ok(()) => {}
                        // Not negotiated yet: drop; once unbound again, the subscription is over.
                        Err(_) if bound => break,
                        Err(_) => {}
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => forwarder.request_keyframe(),
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        if let Some(feedback) = feedback {
            feedback.abort();
        }
    });
    Ok(Subscription { sender, pump })
}

async fn relay_keyframe_requests(
    track: Arc<webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP>,
    forwarder: Arc<Forwarder>,
) {
    while let Some(event) = track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            forwarder.request_keyframe();
        }
    }
}

async fn remove(pc: &Arc<dyn PeerConnection>, subscription: Subscription) {
    subscription.pump.abort();
    if let Err(err) = pc.remove_track(&subscription.sender).await {
        tracing::debug!(%err, "remove_track failed");
    }
}
