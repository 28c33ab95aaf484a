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

use conclave_client::{AudioSourceConfig, JoinOptions, RoomSession, Sources, VideoSourceConfig};
use conclave_media::{
    OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, TestPattern, ToneSource, colour_for, level_dbfs,
    pitch_for,
};
use conclave_protocol::{ErrorCode, ErrorInfo, Event};
use conclave_server::{RunningServer, ServerConfig};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::Mutex;

use crate::api::{AppStatus, EVENT_CHANNEL, Joined, LobbyChoices, MeetingPlace, STATUS_CHANNEL};
use crate::frames::FrameHub;
use crate::links;

/// The port a hosted room prefers, so its address stays the same between meetings.
const HOST_PORT: u16 = 7880;
const CAMERA: (u32, u32, u32, u32) = (640, 360, 30, 800); // width, height, fps, kb/s
const SCREEN: (u32, u32, u32, u32) = (1280, 720, 10, 1200);

pub struct App {
    pub frames: Arc<FrameHub>,
    pub frames_url: String,
    pub link_choices: Option<LobbyChoices>,
    pub launched_at_ms: f64,
    config_dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    call: Option<Arc<RoomSession>>,
    hosted: Option<RunningServer>,
    preview: Option<Arc<AtomicBool>>,
}

pub fn error(code: ErrorCode, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new(code, message)
}

impl App {
    pub fn new(
        frames: Arc<FrameHub>,
        frames_url: String,
        link_choices: Option<LobbyChoices>,
        launched_at_ms: f64,
        config_dir: PathBuf,
    ) -> Self {
        Self {
            frames,
            frames_url,
            link_choices,
            launched_at_ms,
            config_dir,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn last_choices(&self) -> Option<LobbyChoices> {
        let text = std::fs::read_to_string(self.config_dir.join("choices.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn remember(&self, choices: &LobbyChoices) {
        let _ = std::fs::create_dir_all(&self.config_dir);
        if let Ok(text) = serde_json::to_string_pretty(choices) {
            let _ = std::fs::write(self.config_dir.join("choices.json"), text);
        }
    }

    pub async fn session(&self) -> Result<Arc<RoomSession>, ErrorInfo> {
        self.inner
            .lock()
            .await
            .call
            .clone()
            .ok_or_else(|| error(ErrorCode::NotJoined, "not in a call"))
    }

    pub async fn join(&self, app: &AppHandle, choices: LobbyChoices) -> Result<Joined, ErrorInfo> {
        let mut inner = self.inner.lock().await;
        if inner.call.is_some() {
            return Err(error(
                ErrorCode::AlreadyJoined,
                "already in a call; leave first",
            ));
        }
        let (server_address, hosted_address) = match &choices.place {
            MeetingPlace::Host => {
                if inner.hosted.is_none() {
                    inner.hosted = Some(host().await?);
                }
                let port = inner.hosted.as_ref().expect("just started").addr.port();
                (
                    format!("127.0.0.1:{port}"),
                    Some(format!("{}:{port}", lan_ip())),
                )
            }
            MeetingPlace::Server { address } => (address.trim().to_owned(), None),
        };
        let options = JoinOptions {
            server: format!("ws://{server_address}/ws"),
            room: choices.room.clone(),
            name: choices.name.clone(),
            moderator_secret: None,
            sources: sources_for(&choices),
            audio_muted: choices.audio_muted,
            video_muted: choices.video_muted,
        };
        let (session, mut events) = RoomSession::join(options).await?;
        let session = Arc::new(session);
        self.remember(&choices);
        self.frames.set_remote(Some(session.remote.clone()));
        inner.call = Some(session.clone());
        drop(inner);
        // The self view, in the member's own colour.
        self.start_preview(app, &choices.name).await;

        let room_link = links::make(
            hosted_address.as_deref().unwrap_or(&server_address),
            &choices.room,
        );
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                on_event(&app, &event).await;
                let _ = app.emit(EVENT_CHANNEL, &event);
            }
        });
        Ok(Joined {
            room_link,
            hosted_address,
        })
    }

    pub async fn leave(&self) -> Result<(), ErrorInfo> {
        let session = self.inner.lock().await.call.take();
        self.frames.set_remote(None);
        match session {
            Some(session) => session.leave().await,
            None => Ok(()),
        }
    }

    /// The call ended from the other side (kicked, disconnected) or by leaving.
    async fn ended(&self) {
        self.inner.lock().await.call = None;
        self.frames.set_remote(None);
    }

    /// Lobby preview: the chosen camera into the self tile, the microphone level to the meter.
    pub async fn start_preview(&self, app: &AppHandle, name: &str) {
        let mut inner = self.inner.lock().await;
        if let Some(old) = inner.preview.take() {
            old.store(true, Ordering::Relaxed);
        }
        let stop = Arc::new(AtomicBool::new(false));
        inner.preview = Some(stop.clone());
        let (frames, colour, pitch) = (self.frames.clone(), colour_for(name), pitch_for(name));
        let thread_stop = stop.clone();
        std::thread::spawn(move || {
            let (width, height, fps, _) = CAMERA;
            let mut pattern = TestPattern::new(colour, width, height);
            let mut n = 0;
            while !thread_stop.load(Ordering::Relaxed) {
                n += 1;
                let now_ms = now_ms();
                let frame = pattern.render(n, (now_ms * 1000.0) as u64).clone();
                frames.set_preview(Some((Arc::new(frame), now_ms)));
                std::thread::sleep(Duration::from_millis(1000 / fps as u64));
            }
            frames.set_preview(None);
        });
        let app = app.clone();
        tokio::spawn(async move {
            let mut tone = ToneSource::new(pitch, OPUS_SAMPLE_RATE);
            let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
            while !stop.load(Ordering::Relaxed) {
                tone.next_samples(&mut pcm);
                let _ = app.emit(
                    STATUS_CHANNEL,
                    AppStatus::MicLevel {
                        dbfs: level_dbfs(&pcm),
                    },
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    pub async fn stop_preview(&self) {
        if let Some(stop) = self.inner.lock().await.preview.take() {
            stop.store(true, Ordering::Relaxed);
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

fn sources_for(choices: &LobbyChoices) -> Sources {
    let colour = colour_for(&choices.name);
    let video = |(width, height, fps, bitrate_kbps): (u32, u32, u32, u32)| VideoSourceConfig {
        colour,
        width,
        height,
        fps,
        bitrate_kbps,
    };
    Sources {
        camera: Some(video(CAMERA)),
        microphone: Some(AudioSourceConfig {
            tone_hz: pitch_for(&choices.name),
        }),
        screen: Some(video(SCREEN)),
    }
}

/// Starts the embedded room server on every interface, so others on the LAN can join.
async fn host() -> Result<RunningServer, ErrorInfo> {
    for port in [HOST_PORT, 0] {
        let config = ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            ..ServerConfig::default()
        };
        if let Ok(server) = conclave_server::start(config).await {
            return Ok(server);
        }
    }
    Err(error(
        ErrorCode::Internal,
        "could not start the room server on this computer",
    ))
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

pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
