//! The app's one call: joining (hosting the embedded server if asked),
//! forwarding catalog events to the UI, and the lobby preview.
//!
//! The backend is the only owner of media and signaling; the UI only sends
//! commands and draws what it is told.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conclave_client::{
    AudioSourceConfig, JoinOptions, RoomSession, Sources, VideoSourceConfig, VoiceControl,
    VoiceSettings,
};
use conclave_devices::camera::Wanted;
use conclave_devices::{LocalDevices, NO_SPEAKER, Notice, Settings, TEST_PATTERN, TONE};
use conclave_media::{OpusFrame, colour_for, pitch_for};
use conclave_protocol::clock::unix_ms_f64;
use conclave_protocol::{DeviceKind, Event, MemberId, TrackKind};
use conclave_server::{RunningServer, ServerConfig, TlsIdentity, TurnConfig};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::Mutex;

use crate::api::{
    AppState, AppStatus, CallState, EVENT_CHANNEL, Joined, LobbyChoices, MeetingPlace,
    STATUS_CHANNEL,
};
use crate::certificate;
use crate::errors::AppError;
use crate::frames::FrameHub;
use crate::hosting::HostingSettings;
use crate::links;

/// The port a hosted room prefers, so its address stays the same between meetings.
const HOST_PORT: u16 = 7880;
const CAMERA_KBPS: u32 = 800;
const SCREEN_KBPS: u32 = 1500;
/// How the app's devices capture: the synthetic camera at 640×360, 30 fps,
/// which a real camera is asked for too; screens at a screen-friendly rate
/// (text stays sharp, motion matters less).
const DEVICES: Settings = Settings {
    camera: Wanted {
        width: 640,
        height: 360,
        fps: 30,
    },
    sensor_noise: false,
    screen_fps: 10,
    synthetic_screen: (1280, 720),
};

pub struct App {
    pub frames: Arc<FrameHub>,
    pub devices: Arc<LocalDevices>,
    pub frames_url: String,
    /// The room link the app was opened with, read or refused.
    pub opened_link: Option<Result<LobbyChoices, String>>,
    pub launched_at_ms: f64,
    config_dir: PathBuf,
    inner: Mutex<Inner>,
    /// Whether this app runs a room server now: read by the window's close
    /// handler, which cannot wait for `inner`'s lock (a join holds it).
    hosting: AtomicBool,
    /// The quit-while-hosting question is on screen: a second close quits.
    pub quit_asked: AtomicBool,
    /// The microphone's processing, changed in the lobby or during a call.
    voice: VoiceControl,
}

/// The call this app is in, and how it was joined (to show it again after a reload).
struct InCall {
    session: Arc<RoomSession>,
    choices: LobbyChoices,
    joined: Joined,
}

/// The room server this app runs, and the moderator secret its host joins
/// with: leave and come back, and you are its moderator again.
struct Hosted {
    server: RunningServer,
    secret: String,
    /// Its certificate's, for the links that name it.
    fingerprint: String,
}

impl Hosted {
    /// Where others on the LAN reach it.
    fn lan_address(&self) -> String {
        SocketAddr::new(lan_ip(), self.server.addr.port()).to_string()
    }
}

#[derive(Default)]
struct Inner {
    call: Option<InCall>,
    hosted: Option<Hosted>,
    /// Stops the lobby's microphone meter.
    preview: Option<Arc<AtomicBool>>,
}

impl App {
    pub fn new(
        frames: Arc<FrameHub>,
        frames_url: String,
        opened_link: Option<Result<LobbyChoices, String>>,
        launched_at_ms: f64,
        config_dir: PathBuf,
    ) -> Self {
        let preview = frames.clone();
        Self {
            // The camera's frames also go to the self view.
            devices: LocalDevices::with_camera_preview(DEVICES, move |frame| {
                preview.set_preview(frame.map(|f| (Arc::new(f.clone()), unix_ms_f64())))
            }),
            frames,
            frames_url,
            opened_link,
            launched_at_ms,
            config_dir,
            inner: Mutex::new(Inner::default()),
            hosting: AtomicBool::new(false),
            quit_asked: AtomicBool::new(false),
            voice: VoiceControl::new(VoiceSettings::default()),
        }
    }

    pub fn last_choices(&self) -> Option<LobbyChoices> {
        let text = std::fs::read_to_string(self.config_dir.join("choices.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Keeps the lobby's choices for the next launch, but never a password or token.
    fn remember(&self, choices: &LobbyChoices) {
        let _ = std::fs::create_dir_all(&self.config_dir);
        let choices = LobbyChoices {
            password: None,
            token: None,
            ..choices.clone()
        };
        if let Ok(text) = serde_json::to_string_pretty(&choices) {
            let _ = std::fs::write(self.config_dir.join("choices.json"), text);
        }
    }

    /// Changes the microphone's processing during the call, and remembers it.
    pub async fn set_voice(&self, settings: VoiceSettings) -> Result<(), AppError> {
        let mut inner = self.inner.lock().await;
        let call = inner.call.as_mut().ok_or(AppError::NotInCall)?;
        self.voice.set(settings);
        call.choices.voice = settings;
        self.remember(&call.choices);
        Ok(())
    }

    pub async fn session(&self) -> Result<Arc<RoomSession>, AppError> {
        self.inner
            .lock()
            .await
            .call
            .as_ref()
            .map(|call| call.session.clone())
            .ok_or(AppError::NotInCall)
    }

    /// Whether closing the window would end a meeting others may be in.
    pub fn is_hosting(&self) -> bool {
        self.hosting.load(Ordering::Relaxed)
    }

    /// The call as it stands and the meeting this app hosts, for a UI that
    /// starts (again) while they go on.
    pub async fn state(&self) -> AppState {
        let (call, hosting_address) = {
            let inner = self.inner.lock().await;
            let call = inner.call.as_ref().map(|call| {
                (
                    call.session.clone(),
                    call.choices.clone(),
                    call.joined.clone(),
                )
            });
            let hosting = inner.hosted.as_ref().map(Hosted::lan_address);
            (call, hosting)
        };
        let call = match call {
            Some((session, choices, joined)) => {
                let events = session.snapshot().await;
                (!events.is_empty()).then_some(CallState {
                    choices,
                    joined,
                    events,
                })
            }
            None => None,
        };
        AppState {
            call,
            hosting_address,
        }
    }

    pub async fn join(&self, app: &AppHandle, choices: LobbyChoices) -> Result<Joined, AppError> {
        let mut inner = self.inner.lock().await;
        if inner.call.is_some() {
            return Err(AppError::AlreadyInCall);
        }
        let (server_address, hosted_address, moderator_secret) = match &choices.place {
            MeetingPlace::Host => {
                if inner.hosted.is_none() {
                    let identity = certificate::host_identity(&self.config_dir)?;
                    let settings = HostingSettings::load(&self.config_dir)?;
                    let fingerprint = identity.fingerprint().to_string();
                    inner.hosted = Some(Hosted {
                        server: host(identity, settings.turn()).await?,
                        secret: format!("{:032x}", rand::random::<u128>()),
                        fingerprint,
                    });
                    self.hosting.store(true, Ordering::Relaxed);
                }
                let hosted = inner.hosted.as_ref().expect("just started");
                let port = hosted.server.addr.port();
                let own =
                    links::server_url(&format!("127.0.0.1:{port}"), Some(&hosted.fingerprint))
                        .map_err(AppError::BadLink)?;
                (own, Some(hosted.lan_address()), Some(hosted.secret.clone()))
            }
            MeetingPlace::Server {
                address,
                fingerprint,
            } => (
                links::server_url(address, fingerprint.as_deref()).map_err(AppError::BadLink)?,
                None,
                None,
            ),
        };
        self.use_devices(&choices)?;
        self.voice.set(choices.voice);
        let options = JoinOptions {
            server: server_address.url.clone(),
            pin: server_address.pin,
            room: choices.room.clone(),
            name: choices.name.clone(),
            moderator_secret,
            sources: self.sources(),
            audio_muted: choices.audio_muted,
            video_muted: choices.video_muted,
            receive_media: true,
            password: choices.password.clone().filter(|p| !p.is_empty()),
            token: choices.token.clone().filter(|t| !t.is_empty()),
        };
        let (session, mut events) = RoomSession::join(options).await?;
        let session = Arc::new(session);
        self.remember(&choices);
        self.frames.set_remote(Some(session.remote.clone()));
        let remote = session.remote.clone();
        self.devices
            .set_speaker_source(Some(Arc::new(move |out: &mut [i16]| remote.mix(out))));
        // Others reach a hosted room at the LAN address, a server at the address
        // as typed; the link names the certificate this app pinned.
        let invite_address = hosted_address.as_deref().unwrap_or(&server_address.address);
        let fingerprint = server_address.pin.map(|fp| fp.to_string());
        let joined = Joined {
            room_link: links::make(invite_address, &choices.room, fingerprint.as_deref()),
            link_is_local: links::is_loopback(invite_address),
            hosted_address,
        };
        let inner_session = session.clone();
        inner.call = Some(InCall {
            session,
            choices,
            joined: joined.clone(),
        });
        drop(inner);

        tokio::spawn(ask_for_tile_sizes(
            self.frames.shown(),
            Arc::downgrade(&inner_session),
        ));
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                on_event(&app, &event).await;
                let _ = app.emit(EVENT_CHANNEL, &event);
            }
        });
        Ok(joined)
    }

    pub async fn leave(&self) -> Result<(), AppError> {
        let call = self.inner.lock().await.call.take();
        self.release_devices();
        match call {
            Some(call) => call.session.leave().await,
            None => Ok(()),
        }
        .map_err(AppError::from)
    }

    /// Ends the meeting for everyone, and stops hosting it if this app does.
    pub async fn end_meeting(&self) -> Result<(), AppError> {
        let (call, hosted) = {
            let mut inner = self.inner.lock().await;
            (inner.call.take(), inner.hosted.take())
        };
        self.release_devices();
        let ended = match (call, &hosted) {
            (Some(call), _) => call.session.end_room().await.map_err(AppError::from),
            // Hosting without being in the call: the server itself ends it.
            (None, Some(_)) => Ok(()),
            (None, None) => Err(AppError::NotInCall),
        };
        if let Some(hosted) = hosted {
            // Everyone still there hears `room.left` (ended), then nobody can join.
            hosted.server.shutdown().await;
            self.hosting.store(false, Ordering::Relaxed);
        }
        ended
    }

    /// The call ended from the other side (kicked, disconnected) or by leaving.
    async fn ended(&self) {
        self.inner.lock().await.call = None;
        self.release_devices();
    }

    fn release_devices(&self) {
        self.frames.set_remote(None);
        self.devices.set_speaker_source(None);
        for kind in [
            DeviceKind::Camera,
            DeviceKind::Microphone,
            DeviceKind::Speaker,
            DeviceKind::Screen,
        ] {
            self.devices.close(kind);
        }
    }

    /// Opens the chosen devices (the synthetic ones when none is chosen).
    fn use_devices(&self, choices: &LobbyChoices) -> Result<(), AppError> {
        self.use_capture_devices(
            &choices.name,
            choices.camera_id.as_deref(),
            choices.microphone_id.as_deref(),
        )?;
        Ok(self.devices.pick(
            DeviceKind::Speaker,
            choices.speaker_id.as_deref().unwrap_or(NO_SPEAKER),
        )?)
    }

    /// Opens the camera and microphone (the synthetic ones when none is chosen),
    /// in the member's colour and pitch.
    fn use_capture_devices(
        &self,
        name: &str,
        camera_id: Option<&str>,
        microphone_id: Option<&str>,
    ) -> Result<(), AppError> {
        self.devices.set_identity(colour_for(name), pitch_for(name));
        self.devices
            .pick(DeviceKind::Camera, camera_id.unwrap_or(TEST_PATTERN))?;
        Ok(self
            .devices
            .pick(DeviceKind::Microphone, microphone_id.unwrap_or(TONE))?)
    }

    /// The call reads what the devices write.
    fn sources(&self) -> Sources {
        Sources {
            camera: Some(VideoSourceConfig {
                fps: DEVICES.camera.fps,
                bitrate_kbps: CAMERA_KBPS,
                layers: conclave_client::CAMERA_LEVELS,
                feed: self.devices.camera_feed.clone(),
            }),
            microphone: Some(AudioSourceConfig {
                feed: self.devices.microphone_feed.clone(),
                voice: self.voice.clone(),
                frame: OpusFrame::default(),
            }),
            screen: Some(VideoSourceConfig {
                fps: DEVICES.screen_fps,
                bitrate_kbps: SCREEN_KBPS,
                layers: 1,
                feed: self.devices.screen_feed.clone(),
            }),
        }
    }

    /// Shares screen `id`: capture first, so the track has frames from the start.
    pub async fn start_share(&self, id: &str) -> Result<(), AppError> {
        let session = self.session().await?;
        self.devices.pick(DeviceKind::Screen, id)?;
        let shared = session.start_screen_share().await;
        if shared.is_err() {
            self.devices.close(DeviceKind::Screen);
        }
        Ok(shared?)
    }

    pub async fn stop_share(&self) -> Result<(), AppError> {
        let stopped = self.session().await?.stop_screen_share().await;
        self.devices.close(DeviceKind::Screen);
        Ok(stopped?)
    }

    /// What the device layer reports: events go to the UI; a device gone with
    /// nothing to replace it mutes that kind in the call.
    pub fn on_device_notice(app: &AppHandle, notice: Notice) {
        let mute = match notice {
            Notice::Event(event) => {
                let _ = app.emit(EVENT_CHANNEL, &event);
                return;
            }
            Notice::MuteBecauseGone(kind) => Some(kind),
            Notice::ShareGone => None,
        };
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let Ok(session) = app.state::<App>().session().await else {
                return;
            };
            let result = match mute {
                Some(DeviceKind::Microphone) => session.set_audio_muted(true).await,
                Some(_) => session.set_video_muted(true).await,
                None => session.stop_screen_share().await,
            };
            if let Err(err) = result {
                tracing::warn!(%err, "could not follow a device change in the call");
            }
        });
    }

    /// Lobby preview: the chosen camera into the self tile, the microphone level to the meter.
    pub async fn start_preview(
        &self,
        app: &AppHandle,
        name: &str,
        camera_id: Option<&str>,
        microphone_id: Option<&str>,
    ) -> Result<(), AppError> {
        let mut inner = self.inner.lock().await;
        if let Some(old) = inner.preview.take() {
            old.store(true, Ordering::Relaxed);
        }
        self.use_capture_devices(name, camera_id, microphone_id)?;
        let stop = Arc::new(AtomicBool::new(false));
        inner.preview = Some(stop.clone());
        let (app, devices) = (app.clone(), self.devices.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let dbfs = devices.mic_level_dbfs();
                let _ = app.emit(STATUS_CHANNEL, AppStatus::MicLevel { dbfs });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Ok(())
    }

    /// Stops the lobby preview and meter (outside a call, the camera and microphone close).
    pub async fn stop_preview(&self) {
        let mut inner = self.inner.lock().await;
        if let Some(stop) = inner.preview.take() {
            stop.store(true, Ordering::Relaxed);
        }
        if inner.call.is_none() {
            self.devices.close(DeviceKind::Camera);
            self.devices.close(DeviceKind::Microphone);
        }
    }
}

async fn on_event(app: &AppHandle, event: &Event) {
    let title = match event {
        Event::RoomJoined { room, .. } => format!("{room} — Conclave"),
        Event::RoomLeft { .. } => {
            app.state::<App>().ended().await;
            "Conclave".to_owned()
        }
        _ => return,
    };
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.set_title(&title);
    }
}

/// Starts the embedded room server on every interface, so others on the LAN
/// can join, over TLS with the host's own certificate, relaying through
/// `turn` when the user set it up (`hosting.toml`).
async fn host(identity: TlsIdentity, turn: Option<TurnConfig>) -> Result<RunningServer, AppError> {
    let identity = Arc::new(identity);
    for port in [HOST_PORT, 0] {
        let config = ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            tls: Some(identity.clone()),
            turn: turn.clone(),
            ..ServerConfig::default()
        };
        if let Ok(server) = conclave_server::start(config).await {
            return Ok(server);
        }
    }
    Err(AppError::HostFailed)
}

/// This computer's address on its LAN, to show others. Connecting a UDP socket sends nothing;
/// it only asks the kernel which interface would route there.
fn lan_ip() -> IpAddr {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            socket.local_addr()
        })
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Tells the server how big each remote video is shown (0: not at all), so
/// it forwards the simulcast layer that fits the tile, and nothing for a
/// hidden one. Ends with the call.
async fn ask_for_tile_sizes(
    mut shown: tokio::sync::watch::Receiver<Vec<crate::api::TileRequest>>,
    session: std::sync::Weak<RoomSession>,
) {
    use std::collections::HashMap;
    let mut told: HashMap<(MemberId, TrackKind), u32> = HashMap::new();
    loop {
        let tiles = shown.borrow_and_update().clone();
        let Some(session) = session.upgrade() else {
            return;
        };
        let mut wanted: HashMap<(MemberId, TrackKind), u32> = HashMap::new();
        for tile in tiles
            .iter()
            .filter(|t| t.member_id != crate::frames::SELF_ID)
        {
            let key = (MemberId(tile.member_id.clone()), tile.kind);
            let height = wanted.entry(key).or_default();
            *height = (*height).max(tile.height);
        }
        // Shown before and not now: hidden.
        for key in told.keys() {
            wanted.entry(key.clone()).or_insert(0);
        }
        for (key, height) in wanted {
            if told.get(&key) != Some(&height) {
                if let Err(err) = session.set_video_size(&key.0, key.1, height).await {
                    tracing::debug!(%err, "the server did not take a tile size");
                }
                told.insert(key, height);
            }
        }
        drop(session);
        if shown.changed().await.is_err() {
            return;
        }
    }
}
