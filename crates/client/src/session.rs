//! The room session: one member in one room.
//!
//! [`RoomSession::join`] says hello, joins, and starts a task that owns the
//! signaling connection and the peer connection. Commands reach that task
//! through a channel and resolve when the server replies; everything that
//! happens arrives on the event stream, in the catalog's terms.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use conclave_protocol::{
    ClientMessage, ClientRequest, ErrorCode, ErrorInfo, Event, LeaveReason, MemberId,
    PROTOCOL_VERSION, ReplyBody, Role, ServerMessage, TrackKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, oneshot, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

use crate::local::{self, CameraSource, LocalTrack, Sources};
use crate::remote::{self, RemoteMedia};
use crate::signaling::{Signaling, WebSocketSignaling};

#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// `ws://HOST:PORT/ws`
    pub server: String,
    pub room: String,
    pub name: String,
    pub moderator_secret: Option<String>,
    pub sources: Sources,
    pub audio_muted: bool,
    pub video_muted: bool,
}

/// How a member in a benchmark or load test differs from a real one. The
/// default is a real member.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    /// Where the camera's frames come from (given `sources.camera`).
    pub camera: CameraSource,
    /// Remote video is counted (packets, bytes, whole frames), not decoded,
    /// so that many load-test members fit on one machine.
    pub skip_video_decode: bool,
}

pub type EventStream = mpsc::UnboundedReceiver<Event>;

enum Command {
    Request(ClientRequest, oneshot::Sender<Result<ReplyBody, ErrorInfo>>),
    StartScreenShare(oneshot::Sender<Result<ReplyBody, ErrorInfo>>),
    StopScreenShare(oneshot::Sender<Result<ReplyBody, ErrorInfo>>),
}

/// A joined room. Dropping it leaves without a goodbye; call [`RoomSession::leave`].
pub struct RoomSession {
    commands: mpsc::UnboundedSender<Command>,
    pub member_id: MemberId,
    pub role: Role,
    pub remote: Arc<RemoteMedia>,
}

fn lost() -> ErrorInfo {
    ErrorInfo::new(ErrorCode::ConnectionFailed, "the session has ended")
}

impl RoomSession {
    pub async fn join(options: JoinOptions) -> Result<(RoomSession, EventStream), ErrorInfo> {
        let signaling = WebSocketSignaling::connect(&options.server)
            .await
            .map_err(|e| ErrorInfo::new(ErrorCode::ConnectionFailed, e.to_string()))?;
        Self::join_with(Box::new(signaling), bind_ip_for(&options.server), options).await
    }

    /// Joins as a benchmark or load-test member (see [`TestOptions`]).
    pub async fn join_with_test_options(
        options: JoinOptions,
        test: TestOptions,
    ) -> Result<(RoomSession, EventStream), ErrorInfo> {
        let signaling = WebSocketSignaling::connect(&options.server)
            .await
            .map_err(|e| ErrorInfo::new(ErrorCode::ConnectionFailed, e.to_string()))?;
        let bind_ip = bind_ip_for(&options.server);
        Self::start(Box::new(signaling), bind_ip, options, test).await
    }

    /// Joins over any signaling backend.
    pub async fn join_with(
        signaling: Box<dyn Signaling>,
        bind_ip: IpAddr,
        options: JoinOptions,
    ) -> Result<(RoomSession, EventStream), ErrorInfo> {
        Self::start(signaling, bind_ip, options, TestOptions::default()).await
    }

    async fn start(
        mut signaling: Box<dyn Signaling>,
        bind_ip: IpAddr,
        options: JoinOptions,
        test: TestOptions,
    ) -> Result<(RoomSession, EventStream), ErrorInfo> {
        let hello = ClientRequest::Hello {
            version: PROTOCOL_VERSION,
            client: format!("conclave-client {}", env!("CARGO_PKG_VERSION")),
        };
        call(&mut *signaling, 1, hello).await?;
        let join = ClientRequest::Join {
            room: options.room.clone(),
            name: options.name.clone(),
            moderator_secret: options.moderator_secret.clone(),
            audio_muted: options.audio_muted,
            video_muted: options.video_muted,
        };
        let ReplyBody::Joined {
            room,
            member_id,
            role,
            members,
        } = call(&mut *signaling, 2, join).await?
        else {
            return Err(ErrorInfo::new(
                ErrorCode::Internal,
                "the server answered join with something else",
            ));
        };

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let remote = Arc::new(RemoteMedia::new(!test.skip_video_decode));
        let (gathered_tx, gathered_rx) = watch::channel(false);
        let handler = Arc::new(PeerEvents {
            events: events_tx.clone(),
            remote: remote.clone(),
            gathered: gathered_tx,
        });
        let pc = conclave_rtc::build_peer(bind_ip, handler)
            .await
            .map_err(|e| ErrorInfo::new(ErrorCode::MediaFailed, e.to_string()))?;

        let (talking_tx, talking_rx) = mpsc::unbounded_channel();
        let mut tracks = HashMap::new();
        if let Some(camera) = options.sources.camera.clone() {
            tracks.insert(
                TrackKind::Camera,
                local::start_video(
                    TrackKind::Camera,
                    camera,
                    test.camera.clone(),
                    !options.video_muted,
                ),
            );
        }
        if let Some(microphone) = options.sources.microphone.clone() {
            tracks.insert(
                TrackKind::Microphone,
                local::start_audio(microphone, !options.audio_muted, talking_tx),
            );
        }
        // Send-only transceivers made before the first offer take the server's receive slots.
        for track in tracks.values() {
            add_sender(&pc, track).await?;
        }

        let _ = events_tx.send(Event::RoomJoined {
            room: room.clone(),
            member_id: member_id.clone(),
            role,
            members,
        });
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let task = SessionTask {
            signaling,
            pc,
            room,
            events: events_tx,
            remote: remote.clone(),
            tracks,
            screen: options.sources.screen.clone(),
            pending: HashMap::new(),
            next_id: 3,
            gathered: gathered_rx,
            left: false,
        };
        tokio::spawn(task.run(commands_rx, talking_rx));
        Ok((
            RoomSession {
                commands: commands_tx,
                member_id,
                role,
                remote,
            },
            events_rx,
        ))
    }

    async fn request(&self, request: ClientRequest) -> Result<ReplyBody, ErrorInfo> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Request(request, tx))
            .map_err(|_| lost())?;
        rx.await.map_err(|_| lost())?
    }

    pub async fn set_audio_muted(&self, muted: bool) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::SetMedia {
            audio_muted: Some(muted),
            video_muted: None,
        })
        .await
        .map(drop)
    }

    pub async fn set_video_muted(&self, muted: bool) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::SetMedia {
            audio_muted: None,
            video_muted: Some(muted),
        })
        .await
        .map(drop)
    }

    pub async fn start_screen_share(&self) -> Result<(), ErrorInfo> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::StartScreenShare(tx))
            .map_err(|_| lost())?;
        rx.await.map_err(|_| lost())?.map(drop)
    }

    pub async fn stop_screen_share(&self) -> Result<(), ErrorInfo> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::StopScreenShare(tx))
            .map_err(|_| lost())?;
        rx.await.map_err(|_| lost())?.map(drop)
    }

    pub async fn chat(&self, text: &str) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::Chat {
            text: text.to_owned(),
            to: None,
            from: None,
        })
        .await
        .map(drop)
    }

    pub async fn whisper(&self, to: &MemberId, text: &str) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::Chat {
            text: text.to_owned(),
            to: Some(to.clone()),
            from: None,
        })
        .await
        .map(drop)
    }

    pub async fn kick(&self, member: &MemberId, reason: Option<String>) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::Kick {
            member_id: member.clone(),
            reason,
        })
        .await
        .map(drop)
    }

    /// Sends any protocol request as is (the bot uses this to exercise the server).
    pub async fn raw_request(&self, request: ClientRequest) -> Result<ReplyBody, ErrorInfo> {
        self.request(request).await
    }

    pub async fn leave(&self) -> Result<(), ErrorInfo> {
        self.request(ClientRequest::Leave {}).await.map(drop)
    }
}

/// Media binds where it can reach the server: loopback for a local server.
fn bind_ip_for(server: &str) -> IpAddr {
    let host = server
        .split("://")
        .nth(1)
        .unwrap_or(server)
        .split('/')
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => match other.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
    }
}

/// One request before the session task runs: send it, wait for its reply.
async fn call(
    signaling: &mut dyn Signaling,
    id: u64,
    request: ClientRequest,
) -> Result<ReplyBody, ErrorInfo> {
    let failed = |e: crate::signaling::SignalingError| {
        ErrorInfo::new(ErrorCode::ConnectionFailed, e.to_string())
    };
    signaling
        .send(&ClientMessage { id, request })
        .await
        .map_err(failed)?;
    loop {
        match signaling.recv().await {
            None => {
                return Err(ErrorInfo::new(
                    ErrorCode::ConnectionFailed,
                    "the server closed the connection",
                ));
            }
            Some(Err(e)) => return Err(failed(e)),
            Some(Ok(ServerMessage::Reply { id: got, body })) if got == id => return Ok(body),
            Some(Ok(ServerMessage::Error {
                id: Some(got),
                error,
            })) if got == id => return Err(error),
            Some(Ok(_)) => continue, // welcome and the like
        }
    }
}

async fn add_sender(pc: &Arc<dyn PeerConnection>, track: &LocalTrack) -> Result<(), ErrorInfo> {
    let init = RTCRtpTransceiverInit {
        direction: RTCRtpTransceiverDirection::Sendonly,
        streams: vec![],
        send_encodings: vec![],
    };
    pc.add_transceiver_from_track(local::as_track_local(track), Some(init))
        .await
        .map(drop)
        .map_err(|e| ErrorInfo::new(ErrorCode::MediaFailed, e.to_string()))
}

struct PeerEvents {
    events: mpsc::UnboundedSender<Event>,
    remote: Arc<RemoteMedia>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let event = match state {
            RTCPeerConnectionState::Connected => Event::MediaConnected {},
            RTCPeerConnectionState::Disconnected => Event::MediaReconnecting {},
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                Event::MediaDisconnected {}
            }
            _ => return,
        };
        let _ = self.events.send(event);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(remote::receive(
            track,
            self.remote.clone(),
            self.events.clone(),
        ));
    }
}

type Pending = HashMap<
    u64,
    (
        &'static str,
        Option<oneshot::Sender<Result<ReplyBody, ErrorInfo>>>,
    ),
>;

struct SessionTask {
    signaling: Box<dyn Signaling>,
    pc: Arc<dyn PeerConnection>,
    room: String,
    events: mpsc::UnboundedSender<Event>,
    remote: Arc<RemoteMedia>,
    tracks: HashMap<TrackKind, LocalTrack>,
    screen: Option<local::VideoSourceConfig>,
    pending: Pending,
    next_id: u64,
    gathered: watch::Receiver<bool>,
    left: bool,
}

impl SessionTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut talking: mpsc::UnboundedReceiver<bool>,
    ) {
        loop {
            tokio::select! {
                message = self.signaling.recv() => match message {
                    Some(Ok(message)) => self.on_message(message).await,
                    Some(Err(err)) => {
                        tracing::warn!(%err, "signaling failed");
                        break;
                    }
                    None => break,
                },
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => break, // the session handle was dropped
                },
                Some(now_talking) = talking.recv() => {
                    self.send(ClientRequest::SetTalking { talking: now_talking }, None).await;
                }
            }
            if self.left {
                break;
            }
        }
        if !self.left {
            let _ = self.events.send(Event::Error {
                error: ErrorInfo::new(
                    ErrorCode::ConnectionFailed,
                    "lost the connection to the room server",
                ),
                request: None,
            });
            let _ = self.events.send(Event::RoomLeft {
                room: self.room.clone(),
                reason: LeaveReason::Disconnected,
            });
        }
        for (_, (_, reply)) in self.pending.drain() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(lost()));
            }
        }
        self.tracks.clear();
        let _ = self.pc.close().await;
        self.signaling.close().await;
    }

    async fn send(
        &mut self,
        request: ClientRequest,
        reply: Option<oneshot::Sender<Result<ReplyBody, ErrorInfo>>>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let name = request.type_name();
        match self.signaling.send(&ClientMessage { id, request }).await {
            Ok(()) => {
                self.pending.insert(id, (name, reply));
            }
            Err(err) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ErrorInfo::new(
                        ErrorCode::ConnectionFailed,
                        err.to_string(),
                    )));
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Request(request, reply) => {
                // Mute locally first: muted media stops at the source, not only at the server.
                if let ClientRequest::SetMedia {
                    audio_muted,
                    video_muted,
                } = &request
                {
                    if let (Some(muted), Some(track)) =
                        (audio_muted, self.tracks.get(&TrackKind::Microphone))
                    {
                        track.set_sending(!muted);
                    }
                    if let (Some(muted), Some(track)) =
                        (video_muted, self.tracks.get(&TrackKind::Camera))
                    {
                        track.set_sending(!muted);
                    }
                }
                self.send(request, Some(reply)).await;
            }
            Command::StartScreenShare(reply) => {
                if let Some(track) = self.tracks.get(&TrackKind::Screen) {
                    track.set_sending(true);
                } else {
                    let Some(config) = self.screen.clone() else {
                        let _ = reply.send(Err(ErrorInfo::new(
                            ErrorCode::InvalidState,
                            "no screen source to share",
                        )));
                        return;
                    };
                    let track = local::start_video(
                        TrackKind::Screen,
                        config,
                        CameraSource::default(),
                        true,
                    );
                    if let Err(err) = add_sender(&self.pc, &track).await {
                        let _ = reply.send(Err(err));
                        return;
                    }
                    self.tracks.insert(TrackKind::Screen, track);
                }
                self.send(ClientRequest::StartScreenShare {}, Some(reply))
                    .await;
            }
            Command::StopScreenShare(reply) => {
                if let Some(track) = self.tracks.get(&TrackKind::Screen) {
                    track.set_sending(false);
                }
                self.send(ClientRequest::StopScreenShare {}, Some(reply))
                    .await;
            }
        }
    }

    async fn on_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Offer { sdp } => {
                if let Err(err) = self.answer(sdp).await {
                    let _ = self.events.send(Event::Error {
                        error: ErrorInfo::new(
                            ErrorCode::MediaFailed,
                            format!("could not answer the server's offer: {err}"),
                        ),
                        request: None,
                    });
                }
            }
            ServerMessage::Reply { id, body } => {
                if let Some((_, Some(reply))) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(body));
                }
            }
            ServerMessage::Error { id, error } => {
                let pending = id.and_then(|id| self.pending.remove(&id));
                let request = pending.as_ref().map(|(name, _)| name.to_string());
                let _ = self.events.send(Event::Error {
                    error: error.clone(),
                    request,
                });
                if let Some((_, Some(reply))) = pending {
                    let _ = reply.send(Err(error));
                }
            }
            ServerMessage::Event { event } => self.on_event(event),
            ServerMessage::Welcome { .. } => {}
        }
    }

    fn on_event(&mut self, event: Event) {
        match &event {
            Event::MemberLeft { member_id, .. } => {
                for kind in [TrackKind::Camera, TrackKind::Microphone, TrackKind::Screen] {
                    self.end_track(member_id, kind);
                }
            }
            Event::ScreenShareEnded { member_id } => self.end_track(member_id, TrackKind::Screen),
            Event::RoomLeft { .. } => self.left = true,
            _ => {}
        }
        let _ = self.events.send(event);
    }

    /// The server stopped forwarding a track: say so now rather than when RTP times out.
    fn end_track(&self, member: &MemberId, kind: TrackKind) {
        if self.remote.end(member, kind) {
            let _ = self.events.send(Event::TrackEnded {
                member_id: member.clone(),
                kind,
            });
        }
    }

    async fn answer(&mut self, sdp: String) -> anyhow::Result<()> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        let _ = tokio::time::timeout(
            conclave_rtc::GATHER_TIMEOUT,
            self.gathered.wait_for(|done| *done),
        )
        .await;
        let sdp = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| anyhow::anyhow!("no local description"))?
            .sdp;
        self.send(ClientRequest::Answer { sdp }, None).await;
        Ok(())
    }
}
