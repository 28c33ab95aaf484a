//! The room session: one member in one room. The I/O shell around
//! [`SessionCore`].
//!
//! [`RoomSession::join`] connects, starts the session task and waits until
//! the core says the member is in. The task owns the signaling connection,
//! the [`MediaSetup`] and the local tracks; it feeds the core whatever
//! happens (server messages, commands, the media layer's news, the clock)
//! and carries out what the core returns. Everything the member should know
//! arrives on the event stream, in the catalog's terms.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use conclave_media::Playback;
use conclave_protocol::events::MemberField;
use conclave_protocol::{Event, MemberId, Role, TrackKind};
use tokio::sync::{mpsc, oneshot, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

use crate::core::{
    Command, CommandId, Input, JoinRequest, MediaAction, MediaState, Output, SessionCore,
};
use crate::error::ClientError;
use crate::local::{self, CameraSource, LocalTrack, Sources};
use crate::media::{self, ConclaveMedia, Description, MediaSetup, Step};
use crate::reconnect;
use crate::remote::{self, RemoteMedia};
use crate::signaling::{Signaling, SignalingError, WebSocketSignaling};
use crate::stats::{self, StatsTracker};
use crate::uplink::{self, LayerGate, Uplink};
use conclave_protocol::LinkDirection;
use conclave_rtc::{Bandwidth, level_bitrate_kbps};
use rtc::statistics::report::RTCStatsReportEntry;

#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// `wss://HOST:PORT/ws`, or `ws://` for a plain server.
    pub server: String,
    /// Over TLS, accept only the certificate with this fingerprint (a room
    /// link's `#fp=`) instead of one the system's authorities vouch for.
    pub pin: Option<conclave_protocol::Fingerprint>,
    pub room: String,
    pub name: String,
    pub moderator_secret: Option<String>,
    pub sources: Sources,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// `false`: the server forwards no one's media to this member (load
    /// members in benchmarks, so they do not receive each other).
    pub receive_media: bool,
    /// The room's password, if a moderator set one.
    pub password: Option<String>,
    /// A join token, for a server started with an auth secret.
    pub token: Option<String>,
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

/// Commands from the handle, each with where its result goes. Bounded: a
/// caller waits rather than queueing without limit.
type Commands = mpsc::Sender<(Command, oneshot::Sender<Result<(), ClientError>>)>;
const COMMAND_QUEUE: usize = 64;

/// Video frames each local track has sent, by kind (shared with the session task).
type FramesSent = Arc<Mutex<HashMap<TrackKind, Arc<AtomicU64>>>>;

/// A joined room. Dropping it leaves without a goodbye; call [`RoomSession::leave`].
pub struct RoomSession {
    commands: Commands,
    snapshots: mpsc::Sender<oneshot::Sender<Vec<Event>>>,
    pub member_id: MemberId,
    pub role: Role,
    pub remote: Arc<RemoteMedia>,
    frames_sent: FramesSent,
}

impl RoomSession {
    pub async fn join(options: JoinOptions) -> Result<(RoomSession, EventStream), ClientError> {
        Self::join_with_test_options(options, TestOptions::default()).await
    }

    /// Joins as a benchmark or load-test member (see [`TestOptions`]).
    pub async fn join_with_test_options(
        options: JoinOptions,
        test: TestOptions,
    ) -> Result<(RoomSession, EventStream), ClientError> {
        let signaling = WebSocketSignaling::connect(&options.server, options.pin).await?;
        let bind_ip = bind_ip_for(&options.server);
        let (server, pin) = (options.server.clone(), options.pin);
        let reconnect: Reconnector = Arc::new(move || {
            let server = server.clone();
            Box::pin(async move {
                let signaling = WebSocketSignaling::connect(&server, pin).await?;
                Ok(Box::new(signaling) as Box<dyn Signaling>)
            })
        });
        Self::start(Box::new(signaling), Some(reconnect), bind_ip, options, test).await
    }

    /// Joins over any signaling backend; `reconnect`, if given, opens a new
    /// connection to the same server when this one drops.
    pub async fn join_with(
        signaling: Box<dyn Signaling>,
        reconnect: Option<Reconnector>,
        bind_ip: IpAddr,
        options: JoinOptions,
    ) -> Result<(RoomSession, EventStream), ClientError> {
        Self::start(
            signaling,
            reconnect,
            bind_ip,
            options,
            TestOptions::default(),
        )
        .await
    }

    async fn start(
        signaling: Box<dyn Signaling>,
        reconnect: Option<Reconnector>,
        bind_ip: IpAddr,
        options: JoinOptions,
        test: TestOptions,
    ) -> Result<(RoomSession, EventStream), ClientError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        // The media layer's news for the core: track and connection changes, a few a second at most.
        let (notes_tx, notes_rx) = mpsc::unbounded_channel();
        let remote = Arc::new(RemoteMedia::new(!test.skip_video_decode));
        let uplink = Uplink::new(Bandwidth::new(
            initial_uplink_bps(&options.sources),
            MAX_UPLINK_BPS,
        ));
        let media = new_media(bind_ip, &notes_tx, &remote, &uplink).await?;

        let sources = &options.sources;
        let publishes = [
            (TrackKind::Camera, sources.camera.is_some()),
            (TrackKind::Microphone, sources.microphone.is_some()),
            (TrackKind::Screen, sources.screen.is_some()),
        ];
        let join = JoinRequest {
            ask: conclave_protocol::Join {
                room: options.room.clone(),
                name: options.name.clone(),
                moderator_secret: options.moderator_secret.clone(),
                audio_muted: options.audio_muted,
                video_muted: options.video_muted,
                receive_media: options.receive_media,
                password: options.password.clone(),
                token: options.token.clone(),
                returning_participant: false,
            },
            publishes: publishes
                .into_iter()
                .filter_map(|(kind, has)| has.then_some(kind))
                .collect(),
        };
        let (core, first) = SessionCore::new(join, Instant::now());
        let (joined_tx, joined_rx) = oneshot::channel();
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (snapshots_tx, snapshots_rx) = mpsc::channel(COMMAND_QUEUE);
        let frames_sent = FramesSent::default();
        let shell = Shell {
            core,
            signaling,
            signaling_up: true,
            reconnect,
            connecting: None,
            bind_ip,
            notes: notes_tx,
            media: Box::new(media),
            events: events_tx,
            remote: remote.clone(),
            layer_gate: camera_layer_gate(&options.sources),
            sources: options.sources,
            told_layers: None,
            uplink,
            stats: StatsTracker::default(),
            uplink_slow: false,
            test,
            tracks: HashMap::new(),
            frames_sent: frames_sent.clone(),
            replies: HashMap::new(),
            next_command: 1,
            joined: Some(joined_tx),
        };
        tokio::spawn(shell.run(first, commands_rx, snapshots_rx, notes_rx));
        let (member_id, role) = joined_rx.await.map_err(|_| ClientError::SessionEnded)??;
        Ok((
            RoomSession {
                commands: commands_tx,
                snapshots: snapshots_tx,
                member_id,
                role,
                remote,
                frames_sent,
            },
            events_rx,
        ))
    }

    async fn command(&self, command: Command) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send((command, tx))
            .await
            .map_err(|_| ClientError::SessionEnded)?;
        rx.await.map_err(|_| ClientError::SessionEnded)?
    }

    pub async fn set_audio_muted(&self, muted: bool) -> Result<(), ClientError> {
        self.command(Command::SetAudioMuted(muted)).await
    }

    /// How loud `member` plays here; local only ("mute for me" is
    /// `muted`). The member must be in the room; it is forgotten when they leave.
    pub async fn set_playback(
        &self,
        member: &MemberId,
        playback: Playback,
    ) -> Result<(), ClientError> {
        let member = member.clone();
        self.command(Command::SetPlayback { member, playback })
            .await
    }

    pub async fn set_video_muted(&self, muted: bool) -> Result<(), ClientError> {
        self.command(Command::SetVideoMuted(muted)).await
    }

    pub async fn start_screen_share(&self) -> Result<(), ClientError> {
        self.command(Command::StartScreenShare).await
    }

    pub async fn stop_screen_share(&self) -> Result<(), ClientError> {
        self.command(Command::StopScreenShare).await
    }

    pub async fn chat(&self, text: &str) -> Result<(), ClientError> {
        let text = text.to_owned();
        self.command(Command::Chat { text, to: None }).await
    }

    pub async fn whisper(&self, to: &MemberId, text: &str) -> Result<(), ClientError> {
        let (text, to) = (text.to_owned(), Some(to.clone()));
        self.command(Command::Chat { text, to }).await
    }

    pub async fn kick(&self, member: &MemberId, reason: Option<String>) -> Result<(), ClientError> {
        let member = member.clone();
        self.command(Command::Kick { member, reason }).await
    }

    pub async fn leave(&self) -> Result<(), ClientError> {
        self.command(Command::Leave).await
    }

    /// Locks the room, or opens it again (moderators only).
    pub async fn set_room_lock(&self, locked: bool) -> Result<(), ClientError> {
        self.command(Command::SetRoomLock(locked)).await
    }

    /// Sets or removes the room's password (moderators only).
    pub async fn set_room_password(&self, password: Option<String>) -> Result<(), ClientError> {
        self.command(Command::SetRoomPassword(password)).await
    }

    /// Says how tall `member`'s video of `kind` is shown (0: not shown).
    pub async fn set_video_size(
        &self,
        member: &MemberId,
        kind: TrackKind,
        height: u32,
    ) -> Result<(), ClientError> {
        let member = member.clone();
        self.command(Command::SetVideoSize {
            member,
            kind,
            height,
        })
        .await
    }

    /// Ends the meeting for everyone (moderators only).
    pub async fn end_room(&self) -> Result<(), ClientError> {
        self.command(Command::EndRoom).await
    }

    /// The call as it stands, as events to replay ([`SessionCore::snapshot`]);
    /// empty once the session is over.
    pub async fn snapshot(&self) -> Vec<Event> {
        let (tx, rx) = oneshot::channel();
        if self.snapshots.send(tx).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// How many video frames the local track of `kind` (camera or screen) has
    /// handed to the WebRTC stack, over the session (not while paused).
    pub fn frames_sent(&self, kind: TrackKind) -> u64 {
        let sent = self.frames_sent.lock().unwrap();
        sent.get(&kind).map_or(0, |n| n.load(Ordering::Relaxed))
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

/// Opens a new signaling connection to the same server.
pub type Reconnector = Arc<
    dyn Fn() -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<Box<dyn Signaling>, SignalingError>> + Send,
            >,
        > + Send
        + Sync,
>;

/// The uplink estimate starts at what the sources want: every camera layer
/// and the microphone (a share adds its own once it starts). Congestion
/// control backs off from there within a second or two on a poorer link.
fn initial_uplink_bps(sources: &Sources) -> f64 {
    let camera_kbps: u32 = (sources.camera.iter())
        .flat_map(|camera| {
            (0..camera.layers.max(1)).map(|level| level_bitrate_kbps(camera.bitrate_kbps, level))
        })
        .sum();
    f64::from(camera_kbps + 64) * 1000.0
}

/// A gate for a camera sent in more than one layer.
fn camera_layer_gate(sources: &Sources) -> Option<LayerGate> {
    let camera = sources.camera.as_ref().filter(|camera| camera.layers > 1)?;
    let wanted = (0..camera.layers)
        .map(|level| level_bitrate_kbps(camera.bitrate_kbps, level))
        .collect();
    Some(LayerGate::new(wanted))
}

fn rtp_clock(kind: TrackKind) -> u32 {
    if kind.is_video() {
        conclave_rtc::VIDEO_CLOCK_RATE
    } else {
        conclave_media::OPUS_SAMPLE_RATE
    }
}

/// No client sends more than this, however good its link.
const MAX_UPLINK_BPS: f64 = 20_000_000.0;

/// A media connection to Conclave's server whose news reaches the core as
/// `notes`, and whose uplink estimate goes to `uplink`.
async fn new_media(
    bind_ip: IpAddr,
    notes: &mpsc::UnboundedSender<Input>,
    remote: &Arc<RemoteMedia>,
    uplink: &Uplink,
) -> Result<ConclaveMedia, ClientError> {
    let (gathered_tx, gathered_rx) = watch::channel(false);
    let handler = Arc::new(PeerEvents {
        notes: notes.clone(),
        remote: remote.clone(),
        gathered: gathered_tx,
        next_track: AtomicU64::new(1),
    });
    ConclaveMedia::new(bind_ip, handler, gathered_rx, &uplink.bandwidth).await
}

/// The peer connection's news, turned into inputs for the core.
struct PeerEvents {
    notes: mpsc::UnboundedSender<Input>,
    remote: Arc<RemoteMedia>,
    gathered: watch::Sender<bool>,
    next_track: AtomicU64,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connected => MediaState::Connected,
            RTCPeerConnectionState::Disconnected => MediaState::Interrupted,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => MediaState::Lost,
            _ => return,
        };
        let _ = self.notes.send(Input::MediaState(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let instance = self.next_track.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(remote::receive(
            track,
            instance,
            self.remote.clone(),
            self.notes.clone(),
        ));
    }
}

struct Shell {
    core: SessionCore,
    signaling: Box<dyn Signaling>,
    /// Whether `signaling` is open; a dropped one is not read.
    signaling_up: bool,
    reconnect: Option<Reconnector>,
    /// An attempt at a new signaling connection, under way.
    connecting: Option<tokio::task::JoinHandle<Result<Box<dyn Signaling>, String>>>,
    /// For a new media connection (after the server forgot this member).
    bind_ip: IpAddr,
    notes: mpsc::UnboundedSender<Input>,
    media: Box<dyn MediaSetup>,
    events: mpsc::UnboundedSender<Event>,
    remote: Arc<RemoteMedia>,
    sources: Sources,
    /// What the encoders may send (the estimate of whichever media connection is current).
    uplink: Uplink,
    /// Which camera layers the uplink has room for (a layered camera only).
    layer_gate: Option<LayerGate>,
    /// The largest camera layer this member's server was told it sends.
    told_layers: Option<u8>,
    stats: StatsTracker,
    /// Said in the last `link.slow` for the uplink.
    uplink_slow: bool,
    test: TestOptions,
    tracks: HashMap<TrackKind, LocalTrack>,
    frames_sent: FramesSent,
    replies: HashMap<CommandId, oneshot::Sender<Result<(), ClientError>>>,
    next_command: u64,
    joined: Option<oneshot::Sender<Result<(MemberId, Role), ClientError>>>,
}

impl Shell {
    async fn run(
        mut self,
        first: Vec<Output>,
        mut commands: mpsc::Receiver<(Command, oneshot::Sender<Result<(), ClientError>>)>,
        mut snapshots: mpsc::Receiver<oneshot::Sender<Vec<Event>>>,
        mut notes: mpsc::UnboundedReceiver<Input>,
    ) {
        let (talking_tx, mut talking) = mpsc::unbounded_channel();
        self.perform(first, &talking_tx).await;
        let mut stats_tick = tokio::time::interval(stats::STATS_INTERVAL);
        stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gate_tick = tokio::time::interval(uplink::GATE_INTERVAL);
        gate_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.core.is_ended() {
            let deadline = self.core.next_deadline();
            let input = tokio::select! {
                message = self.signaling.recv(), if self.signaling_up => match message {
                    Some(Ok(message)) => Input::Server(message),
                    Some(Err(err)) => self.lost(err.to_string()),
                    None => self.lost("the server closed the connection".into()),
                },
                opened = async { self.connecting.as_mut().expect("guarded").await }, if self.connecting.is_some() => {
                    self.connecting = None;
                    match opened {
                        Ok(Ok(signaling)) => {
                            self.signaling = signaling;
                            self.signaling_up = true;
                            Input::SignalingOpened
                        }
                        Ok(Err(why)) => Input::SignalingLost(why),
                        Err(_) => Input::SignalingLost("the connection attempt failed".into()),
                    }
                }
                command = commands.recv() => match command {
                    Some((command, reply)) => {
                        let id = CommandId(self.next_command);
                        self.next_command += 1;
                        self.replies.insert(id, reply);
                        Input::Command(id, command)
                    }
                    None => break, // the session handle was dropped
                },
                Some(reply) = snapshots.recv() => {
                    let _ = reply.send(self.core.snapshot());
                    continue;
                }
                Some(note) = notes.recv() => note,
                Some(now_talking) = talking.recv() => Input::Talking(now_talking),
                _ = stats_tick.tick() => {
                    self.report_stats().await;
                    continue;
                }
                _ = gate_tick.tick(), if self.layer_gate.is_some() => {
                    self.gate_layers(&talking_tx).await;
                    continue;
                }
                _ = sleep_until(deadline) => Input::Tick,
            };
            let outputs = self.core.handle(input, Instant::now());
            self.perform(outputs, &talking_tx).await;
        }
        for (_, reply) in self.replies.drain() {
            let _ = reply.send(Err(ClientError::SessionEnded));
        }
        self.tracks.clear();
        self.media.close().await;
        self.signaling.close().await;
    }

    /// Carries out the core's outputs, and what they lead to, in order.
    async fn perform(&mut self, outputs: Vec<Output>, talking: &mpsc::UnboundedSender<bool>) {
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            let inputs = match output {
                // Nothing goes out on a dropped connection; the core knows it is down.
                Output::Send(_) if !self.signaling_up => continue,
                Output::Send(message) => match self.signaling.send(&message).await {
                    Ok(()) => continue,
                    Err(err) => vec![self.lost(err.to_string())],
                },
                Output::Connect => match self.reconnect.clone() {
                    Some(reconnect) => {
                        self.connecting = Some(tokio::spawn(async move {
                            match tokio::time::timeout(reconnect::ATTEMPT_TIMEOUT, reconnect())
                                .await
                            {
                                Ok(Ok(signaling)) => Ok(signaling),
                                Ok(Err(err)) => Err(err.to_string()),
                                Err(_) => Err("no connection within the attempt's time".into()),
                            }
                        }));
                        continue;
                    }
                    None => vec![Input::SignalingLost(
                        "this server cannot be reconnected to".into(),
                    )],
                },
                Output::Event(event) => {
                    self.pause_freezes_for(&event);
                    if let Event::VideoLayers { layers } = &event {
                        let layers = layers
                            .iter()
                            .map(|l| (l.member_id.clone(), l.kind, l.layer));
                        self.stats.layers(layers);
                    }
                    let _ = self.events.send(event);
                    continue;
                }
                Output::Media(action) => self.media_action(action, talking).await,
                Output::Done(id, result) => {
                    if let Some(reply) = self.replies.remove(&id) {
                        let _ = reply.send(result);
                    }
                    continue;
                }
                Output::Joined { member_id, role } => {
                    if let Some(joined) = self.joined.take() {
                        let _ = joined.send(Ok((member_id, role)));
                    }
                    continue;
                }
                Output::JoinFailed(error) => {
                    if let Some(joined) = self.joined.take() {
                        let _ = joined.send(Err(error));
                    }
                    continue;
                }
                Output::Ended => continue,
            };
            for input in inputs {
                queue.extend(self.core.handle(input, Instant::now()));
            }
        }
    }

    async fn media_action(
        &mut self,
        action: MediaAction,
        talking: &mpsc::UnboundedSender<bool>,
    ) -> Vec<Input> {
        match action {
            MediaAction::Publish { kind, sending } => {
                if let Some(track) = self.tracks.get(&kind) {
                    track.set_sending(sending);
                    return vec![Input::Published {
                        kind,
                        result: Ok(()),
                    }];
                }
                let Some(track) = self.start_track(kind, sending, talking) else {
                    let result = Err(ClientError::NoScreenSource);
                    return vec![Input::Published { kind, result }];
                };
                let step = Step::Publish(kind, local::as_track_locals(&track));
                let inputs = media::negotiate(&mut *self.media, step).await;
                let sent = track.frames_sent.clone();
                self.frames_sent.lock().unwrap().insert(kind, sent);
                self.tracks.insert(kind, track);
                inputs
            }
            MediaAction::SetSending { kind, sending } => {
                if let Some(track) = self.tracks.get(&kind) {
                    track.set_sending(sending);
                }
                Vec::new()
            }
            MediaAction::RemoteDescription(link, description) => {
                if let Description::Offer(sdp) = &description {
                    self.remote.note_offer(sdp);
                }
                media::negotiate(&mut *self.media, Step::Remote(link, description)).await
            }
            MediaAction::UseIceServers(servers) => {
                match self.media.use_ice_servers(&servers).await {
                    Ok(()) => Vec::new(),
                    Err(error) => vec![Input::MediaFailed(error)],
                }
            }
            MediaAction::Reset => self.reset_media().await,
            MediaAction::EndRemote { member, kind } => {
                // Its RTP may linger until the track times out: it counts as ended now.
                self.remote.end(&member, kind);
                Vec::new()
            }
            MediaAction::SetPlayback { member, playback } => {
                self.remote.set_playback(&member, playback);
                Vec::new()
            }
            MediaAction::ForgetMember(member) => {
                self.remote.forget(&member);
                Vec::new()
            }
        }
    }

    /// Turns camera layers off and on as the uplink has room, telling the
    /// server first (see [`crate::uplink`]). Only in the room: a layer must
    /// not stop unannounced.
    async fn gate_layers(&mut self, talking: &mpsc::UnboundedSender<bool>) {
        let Some(gate) = self.layer_gate.as_mut() else {
            return;
        };
        if !self.core.in_room() {
            return;
        }
        let now = Instant::now();
        let camera_kbps = self.uplink.camera_kbps();
        if let Some(largest_level) = gate.update(now, camera_kbps) {
            tracing::debug!(largest_level, camera_kbps, "camera layers");
        }
        self.uplink.set_camera_largest(gate.sending());
        let largest_level = gate.announced();
        if self.told_layers == Some(largest_level) {
            return;
        }
        self.told_layers = Some(largest_level);
        let id = CommandId(self.next_command);
        self.next_command += 1;
        let command = Command::SetSentLayers {
            kind: TrackKind::Camera,
            largest_level,
        };
        let outputs = self.core.handle(Input::Command(id, command), now);
        self.perform(outputs, talking).await;
    }

    /// Emits `call.stats` (once in a call) and, when the uplink turned slow
    /// or recovered, `link.slow`.
    async fn report_stats(&mut self) {
        if self.joined.is_some() {
            return; // not in the room yet
        }
        let reading = self.stats_reading().await;
        let estimate_kbps = reading.uplink_estimate_kbps;
        if let Some(stats) = self.stats.update(Instant::now(), reading) {
            let _ = self.events.send(Event::CallStats { stats });
        }
        let slow = self.uplink.limited();
        if slow != self.uplink_slow {
            self.uplink_slow = slow;
            let _ = self.events.send(Event::LinkSlow {
                direction: LinkDirection::Uplink,
                slow,
                estimate_kbps,
            });
        }
    }

    /// The media connection's counters, with the decoders' and the encoders' own.
    async fn stats_reading(&mut self) -> stats::Reading {
        let mut reading = stats::Reading {
            uplink_estimate_kbps: (self.uplink.bandwidth.target_bps() / 1000.0) as u32,
            ..Default::default()
        };
        let owners = self.remote.ssrc_owners();
        let decoded = self.remote.stats();
        let mut layers = HashMap::new();
        for (kind, track) in &self.tracks {
            for (level, layer) in track.layers.iter().enumerate() {
                for ssrc in webrtc::media_stream::Track::ssrcs(&**layer).await {
                    let layered = track.layers.len() > 1;
                    layers.insert(ssrc, (*kind, layered.then_some(level as u8)));
                }
            }
        }
        for report in self.media.stats().await {
            for inbound in report.inbound_rtp_streams() {
                let received = &inbound.received_rtp_stream_stats;
                let ssrc = received.rtp_stream_stats.ssrc;
                let Some((member, kind)) = owners.get(&ssrc).cloned() else {
                    continue;
                };
                let frame = self.remote.latest_frame(&member, kind);
                let frames_decoded = decoded
                    .get(&(member.clone(), kind))
                    .map_or(0, |stats| stats.frames_decoded);
                let entry = stats::Received {
                    owner: Some((member, kind)),
                    bytes: inbound.bytes_received + inbound.header_bytes_received,
                    packets: received.packets_received,
                    lost: received.packets_lost,
                    // webrtc 0.21 gives it in RTP clock units, not the W3C's seconds.
                    jitter_s: received.jitter / f64::from(rtp_clock(kind)),
                    frames_decoded,
                    size: frame.map(|f| (f.frame.width, f.frame.height)),
                };
                reading.received.insert(ssrc, entry);
            }
            for outbound in report.outbound_rtp_streams() {
                let sent = &outbound.sent_rtp_stream_stats;
                let ssrc = sent.rtp_stream_stats.ssrc;
                let Some(&(kind, layer)) = layers.get(&ssrc) else {
                    continue;
                };
                let fraction_lost = match report.get(&outbound.remote_id) {
                    Some(RTCStatsReportEntry::RemoteInboundRtp(remote)) => remote.fraction_lost,
                    _ => 0.0,
                };
                let size = (outbound.frame_width > 0)
                    .then_some((outbound.frame_width, outbound.frame_height));
                let entry = stats::Sent {
                    kind: Some(kind),
                    layer,
                    bytes: sent.bytes_sent + outbound.header_bytes_sent,
                    fraction_lost,
                    frames: self
                        .frames_sent
                        .lock()
                        .unwrap()
                        .get(&kind)
                        .map_or(0, |f| f.load(std::sync::atomic::Ordering::Relaxed)),
                    size,
                };
                reading.sent.insert(ssrc, entry);
            }
            reading.rtt_ms = reading
                .rtt_ms
                .or_else(|| conclave_rtc::round_trip_ms(&report));
        }
        reading
    }

    /// A camera turned off or a share that ended stops its video on
    /// purpose: the wait for its next frame is no freeze.
    fn pause_freezes_for(&self, event: &Event) {
        match event {
            Event::MemberUpdated { member, updated }
                if member.video_muted && updated.contains(&MemberField::VideoMuted) =>
            {
                self.remote.pause_freezes(&member.id, TrackKind::Camera);
            }
            Event::ScreenShareEnded { member_id } => {
                self.remote.pause_freezes(member_id, TrackKind::Screen);
            }
            _ => {}
        }
    }

    /// The dropped connection: closed, and not read any more.
    fn lost(&mut self, reason: String) -> Input {
        self.signaling_up = false;
        Input::SignalingLost(reason)
    }

    /// A new media connection, with the local camera and microphone on it;
    /// the screen share, and everything remote, are over.
    async fn reset_media(&mut self) -> Vec<Input> {
        self.media.close().await;
        self.told_layers = None; // a new member, on a server that knows nothing of it
        self.tracks.remove(&TrackKind::Screen);
        self.remote.end_all();
        match new_media(self.bind_ip, &self.notes, &self.remote, &self.uplink).await {
            Ok(media) => self.media = Box::new(media),
            Err(error) => return vec![Input::MediaFailed(error)],
        }
        let mut inputs = Vec::new();
        for kind in [TrackKind::Camera, TrackKind::Microphone] {
            if let Some(track) = self.tracks.get(&kind) {
                let step = Step::Publish(kind, local::as_track_locals(track));
                inputs.extend(media::negotiate(&mut *self.media, step).await);
            }
        }
        inputs
    }

    fn start_track(
        &self,
        kind: TrackKind,
        sending: bool,
        talking: &mpsc::UnboundedSender<bool>,
    ) -> Option<LocalTrack> {
        Some(match kind {
            TrackKind::Camera => {
                let camera = self.sources.camera.clone()?;
                let layers = camera.layers;
                local::start_video(
                    kind,
                    camera,
                    self.test.camera.clone(),
                    layers,
                    self.uplink.clone(),
                    sending,
                )
            }
            TrackKind::Screen => local::start_video(
                kind,
                self.sources.screen.clone()?,
                CameraSource::default(),
                1,
                self.uplink.clone(),
                sending,
            ),
            TrackKind::Microphone => {
                let echo = self.remote.echo_reference();
                local::start_audio(
                    self.sources.microphone.clone()?,
                    sending,
                    talking.clone(),
                    echo,
                )
            }
        })
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
