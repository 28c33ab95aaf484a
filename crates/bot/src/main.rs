//! `conclave-bot`: a headless member with synthetic media.
//!
//! Prints every event as one JSON line on stdout. With `--duration` it leaves
//! after that long and prints a last `{"summary": ...}` line with what it
//! received from each remote member (and, beside it, `sent` and `offer`; see
//! `--help`). With `--commands` it also reads JSON
//! commands from stdin, one per line, so tests and scripts can drive it:
//! `{"cmd":"mute_audio"}`, `unmute_audio`, `mute_video`, `unmute_video`,
//! `share`, `unshare`, `{"cmd":"chat","text":"hi"}`,
//! `{"cmd":"whisper","to":"m2","text":"psst"}`, `{"cmd":"kick","member_id":"m2"}`,
//! `summary`, `leave`.
//!
//! Its devices are the app's ([`LocalDevices`]): the synthetic ones (test
//! pattern, tone, synthetic screen) unless `--camera`, `--microphone`,
//! `--speaker` or `--screen` name real ones (a camera, a PulseAudio source or
//! sink, an X display). With a real device the bot watches the devices as the
//! app does: when the one in use goes away it falls back (a microphone to the
//! next real microphone, else it mutes), printing the same
//! `microphone.disconnected` / `microphone.updated` / `devices.changed` events.
//!
//! With `--load` it is a cheap member for load tests: the camera replays a
//! clip encoded once at startup and remote video is counted, not decoded.

mod load;
mod summary;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use conclave_client::{
    AudioSourceConfig, CameraSource, JoinOptions, RoomSession, Sources, TestOptions,
    VideoSourceConfig, VoiceControl, VoiceSettings,
};
use conclave_devices::camera::Wanted;
use conclave_devices::{
    DeviceKind, LocalDevices, NO_SPEAKER, Notice, SYNTHETIC_SCREEN, Settings, TEST_PATTERN, TONE,
};
use conclave_media::{OpusFrame, Playback, Rgb, colour_for, pitch_for};
use conclave_protocol::{ErrorInfo, Event, Fingerprint, MemberId, TrackKind};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Headless Conclave member with synthetic media (or real devices)",
    after_help = STDIN_COMMANDS
)]
struct Args {
    /// Room server, e.g. wss://meet.example.org:7880/ws (or ws:// for a plain one)
    #[arg(long)]
    server: String,
    /// Over wss://, accept only the server certificate with this SHA-256
    /// fingerprint (64 hex digits, as in a room link's `#fp=`), instead of
    /// one the system's authorities vouch for.
    #[arg(long, value_name = "HEX", value_parser = parse_fingerprint)]
    pin_sha256: Option<Fingerprint>,
    #[arg(long)]
    room: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    moderator_secret: Option<String>,
    /// The room's password, if a moderator set one.
    #[arg(long)]
    password: Option<String>,
    /// A join token (`conclave-server token`), for a server that requires them.
    #[arg(long)]
    token: Option<String>,
    /// Test-pattern colour as #rrggbb (default: derived from the name).
    #[arg(long)]
    colour: Option<String>,
    /// Tone pitch in Hz (default: derived from the name).
    #[arg(long)]
    tone_hz: Option<f32>,
    #[arg(long, default_value_t = 640)]
    width: u32,
    #[arg(long, default_value_t = 360)]
    height: u32,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    #[arg(long, default_value_t = 800)]
    bitrate_kbps: u32,
    /// Simulcast layers of the camera: 3 (full, half and quarter size, as
    /// the app sends) or 1 (the full picture only).
    #[arg(long, default_value_t = conclave_rtc::CAMERA_LEVELS, value_parser = clap::value_parser!(u8).range(1..=3))]
    layers: u8,
    /// Publish no camera.
    #[arg(long)]
    no_camera: bool,
    /// Publish no microphone.
    #[arg(long)]
    no_microphone: bool,
    /// Process the microphone as the app will (echo cancellation, noise
    /// suppression, gain control, high-pass); off by default, so the tone
    /// arrives as it was made.
    #[arg(long)]
    voice_processing: bool,
    /// Opus's frame in ms: 20, or 10 for less delay.
    #[arg(long, default_value_t = 20, value_parser = parse_opus_frame)]
    audio_frame_ms: u32,
    /// Join with the microphone muted.
    #[arg(long)]
    audio_muted: bool,
    /// Join with the camera off.
    #[arg(long)]
    video_muted: bool,
    /// Share the screen right after joining.
    #[arg(long)]
    share_screen: bool,
    /// Capture this camera instead of the test pattern (a device id, e.g.
    /// `v4l:0`; `conclave-devices`' list_devices example lists them).
    #[arg(long, conflicts_with_all = ["no_camera", "load"])]
    camera: Option<String>,
    /// Capture this microphone instead of the tone (e.g. `pulse:<source name>`).
    #[arg(long, conflicts_with = "no_microphone")]
    microphone: Option<String>,
    /// Play the remote audio on this speaker (e.g. `pulse:<sink name>`).
    #[arg(long)]
    speaker: Option<String>,
    /// Share this screen (e.g. `screen:0`) instead of the synthetic one.
    #[arg(long)]
    screen: Option<String>,
    /// Screen-share frame rate and bitrate.
    #[arg(long, default_value_t = 10)]
    screen_fps: u32,
    #[arg(long, default_value_t = 1200)]
    screen_kbps: u32,
    /// Send this chat message right after joining.
    #[arg(long)]
    chat: Option<String>,
    /// Leave after this many seconds and print the summary.
    #[arg(long)]
    duration: Option<f64>,
    /// Read JSON commands from stdin, one per line: {"cmd":"mute_audio"},
    /// unmute_audio, mute_video, unmute_video, share, unshare,
    /// {"cmd":"chat","text":"hi"}, {"cmd":"whisper","to":"m2","text":"psst"},
    /// {"cmd":"kick","member_id":"m2"}, summary, leave. Each is answered by a
    /// {"reply":{"cmd":..,"ok":..}} line; summary by a line
    /// {"summary":{<member id>:{...}},"sent":{"camera_frames":N,"screen_frames":N},
    /// "offer":{"bytes":N,"m_sections":N,"count":N,"relay_candidates":N},
    /// "first_frame_ms":N}: what was received from each member, the video
    /// frames this bot sent, the size of the server's last SDP offer (null
    /// before the first) and how many came, and the join time (signaling
    /// open to the first remote frame decoded; null before it).
    #[arg(long, verbatim_doc_comment)]
    commands: bool,
    /// Load-test mode, so many bots fit on one machine: the camera replays a
    /// clip of the test pattern with sensor noise, encoded once at startup
    /// (reported as a `load_clip` line), instead of encoding live; remote
    /// video is counted (packets, bytes, whole frames), not decoded. The
    /// clip's stamps are stale, so latency cannot be measured from it.
    #[arg(long)]
    load: bool,
    /// Length of the load-mode clip in seconds (a keyframe every 2 s).
    #[arg(long, default_value_t = 2.0, requires = "load")]
    load_clip_secs: f64,
    /// Add sensor noise to the live camera's test pattern, so it codes like a
    /// real webcam (spends the bitrate) rather than a flat picture.
    #[arg(long, conflicts_with = "load")]
    sensor_noise: bool,
    /// Whose media the server forwards to this bot: `all` (a normal member)
    /// or `none` (it receives no audio or video and reports none; for load
    /// members, so a benchmark's bots do not receive each other).
    #[arg(long, value_enum, default_value_t = Receive::All)]
    receive: Receive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Receive {
    All,
    None,
}

#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Command {
    MuteAudio,
    UnmuteAudio,
    MuteVideo,
    UnmuteVideo,
    Share,
    Unshare,
    Chat {
        text: String,
    },
    Whisper {
        to: MemberId,
        text: String,
    },
    Kick {
        member_id: MemberId,
        reason: Option<String>,
    },
    Summary,
    Leave,
    EndRoom,
    Lock,
    Unlock,
    SetPassword {
        password: Option<String>,
    },
    VideoSize {
        member_id: MemberId,
        #[serde(default = "camera")]
        kind: TrackKind,
        height: u32,
    },
    Voice(VoiceSettings),
    Playback {
        member_id: MemberId,
        #[serde(flatten)]
        playback: Playback,
    },
}

fn camera() -> TrackKind {
    TrackKind::Camera
}

/// What `--commands` reads, for `--help`; one JSON object a line.
const STDIN_COMMANDS: &str = r#"Commands on stdin (with --commands), one JSON object a line; each is answered
with a {"reply": {"cmd": ..., "ok": ...}} line:
  {"cmd":"mute_audio"}   {"cmd":"unmute_audio"}
  {"cmd":"mute_video"}   {"cmd":"unmute_video"}
  {"cmd":"share"}        {"cmd":"unshare"}
  {"cmd":"chat","text":"hi"}
  {"cmd":"whisper","to":"m2","text":"psst"}
  {"cmd":"kick","member_id":"m2","reason":"optional"}
  {"cmd":"summary"}      prints what was received so far
  {"cmd":"leave"}
  {"cmd":"end_room"}     ends the meeting for everyone (moderators)
  {"cmd":"lock"}         {"cmd":"unlock"}   nobody new may join (moderators)
  {"cmd":"set_password","password":"tulip"}   null removes it (moderators)
  {"cmd":"video_size","member_id":"m2","height":180}   m2's camera shown this tall
                         (0: hidden; "kind":"screen" for a share)
  {"cmd":"voice","echo_cancellation":true,"noise_suppression":true,
   "gain_control":true,"high_pass":true}   the microphone's processing
  {"cmd":"playback","member_id":"m2","volume_percent":50,"muted":false}
                         how loud m2 plays here (0-200; muted: "mute for me")"#;

pub(crate) fn print_line(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let colour = match &args.colour {
        Some(hex) => Rgb::parse_hex(hex)?,
        None => colour_for(&args.name),
    };
    let tone_hz = args.tone_hz.unwrap_or_else(|| pitch_for(&args.name));
    let camera_size = Wanted {
        width: args.width,
        height: args.height,
        fps: args.fps,
    };
    let devices = LocalDevices::new(Settings {
        camera: camera_size,
        sensor_noise: args.sensor_noise,
        screen_fps: args.screen_fps,
        synthetic_screen: (args.width, args.height),
    });
    devices.set_identity(colour, tone_hz);
    let live_camera = !args.no_camera && !args.load;
    if live_camera {
        let id = args.camera.as_deref().unwrap_or(TEST_PATTERN);
        exit_on_error("camera", devices.pick(DeviceKind::Camera, id));
    }
    if let Some(id) = &args.screen {
        exit_on_error("screen", devices.pick(DeviceKind::Screen, id));
    }
    if !args.no_microphone {
        let id = args.microphone.as_deref().unwrap_or(TONE);
        exit_on_error("microphone", devices.pick(DeviceKind::Microphone, id));
    }
    // Synthetic devices do not go away: watch only with a real one.
    let (notices_tx, mut notices) = tokio::sync::mpsc::unbounded_channel::<Notice>();
    let real_devices = [&args.camera, &args.microphone, &args.speaker, &args.screen];
    if real_devices.iter().any(|id| id.is_some()) {
        devices.watch(move |notice| {
            let _ = notices_tx.send(notice);
        });
    }

    let camera = VideoSourceConfig {
        fps: args.fps,
        bitrate_kbps: args.bitrate_kbps,
        layers: args.layers,
        feed: devices.camera_feed.clone(),
    };
    let test = if args.load {
        let camera = if args.no_camera {
            CameraSource::default()
        } else {
            let mut clips = Vec::new();
            for level in 0..args.layers {
                let scale = 1 << level;
                let size = Wanted {
                    width: camera_size.width / scale / 2 * 2,
                    height: camera_size.height / scale / 2 * 2,
                    ..camera_size
                };
                let kbps = conclave_rtc::level_bitrate_kbps(args.bitrate_kbps, level);
                let (clip, description) =
                    load::encode_clip(colour, size, kbps, args.load_clip_secs)?;
                print_line(&json!({ "load_clip": description }));
                clips.push(clip);
            }
            CameraSource::Replay(clips)
        };
        Some(TestOptions {
            camera,
            skip_video_decode: true,
        })
    } else {
        None
    };
    let voice = VoiceControl::new(if args.voice_processing {
        VoiceSettings::default()
    } else {
        VoiceSettings::OFF
    });
    let sources = Sources {
        camera: (!args.no_camera).then_some(camera),
        microphone: (!args.no_microphone).then(|| AudioSourceConfig {
            feed: devices.microphone_feed.clone(),
            voice: voice.clone(),
            frame: OpusFrame::from_ms(args.audio_frame_ms).unwrap_or_default(),
        }),
        screen: Some(VideoSourceConfig {
            fps: args.screen_fps,
            bitrate_kbps: args.screen_kbps,
            layers: 1,
            feed: devices.screen_feed.clone(),
        }),
    };
    let options = JoinOptions {
        server: args.server.clone(),
        pin: args.pin_sha256,
        room: args.room.clone(),
        name: args.name.clone(),
        moderator_secret: args.moderator_secret.clone(),
        password: args.password.clone(),
        token: args.token.clone(),
        sources,
        audio_muted: args.audio_muted,
        video_muted: args.video_muted,
        receive_media: args.receive == Receive::All,
    };
    let joined = match test {
        Some(test) => RoomSession::join_with_test_options(options, test).await,
        None => RoomSession::join(options).await,
    };
    let (session, mut events) = match joined {
        Ok(joined) => joined,
        Err(error) => exit_with_error("join", error.into()),
    };
    // Before any remote track can arrive (they follow the first offer).
    session.remote.enable_probe();
    let remote = session.remote.clone();
    devices.set_speaker_source(Some(Arc::new(move |out: &mut [i16]| remote.mix(out))));
    if let Some(id) = &args.speaker {
        exit_on_error("speaker", devices.pick(DeviceKind::Speaker, id));
    }
    let screen = args.screen.as_deref().unwrap_or(SYNTHETIC_SCREEN);
    let mut names: HashMap<MemberId, String> = HashMap::new();

    if args.share_screen {
        report("share", share(&session, &devices, screen).await);
    }
    if let Some(text) = &args.chat {
        report("chat", session.chat(text).await);
    }

    let (commands_tx, mut commands) = tokio::sync::mpsc::unbounded_channel::<String>();
    if args.commands {
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if commands_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = args
        .duration
        .map(|secs| tokio::time::Instant::now() + Duration::from_secs_f64(secs));
    let sleep_until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);
    // Without a real speaker (none, or fallen back to the silent one), drain
    // the mixed remote audio as one would, so the mixer runs.
    let real_speaker = || {
        devices
            .in_use(DeviceKind::Speaker)
            .is_some_and(|d| d.id != NO_SPEAKER)
    };
    let mut speaker = tokio::time::interval(Duration::from_millis(20));
    let mut speaker_buffer = vec![0i16; 960];

    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                remember_names(&mut names, &event);
                print_line(&serde_json::to_value(&event)?);
                if matches!(event, Event::RoomLeft { .. }) {
                    break;
                }
            }
            Some(line) = commands.recv() => {
                if line.trim().is_empty() { continue; }
                match serde_json::from_str::<Command>(&line) {
                    Ok(Command::Leave) => {
                        report("leave", session.leave().await);
                    }
                    Ok(Command::Summary) => print_line(&summary::build(&session, &names)),
                    Ok(Command::Share) => report("share", share(&session, &devices, screen).await),
                    Ok(Command::Voice(settings)) => {
                        voice.set(settings);
                        report::<ErrorInfo>("voice", Ok(()));
                    }
                    Ok(Command::Unshare) => {
                        let stopped = session.stop_screen_share().await;
                        devices.close(DeviceKind::Screen);
                        report("unshare", stopped);
                    }
                    Ok(command) => run(&session, command).await,
                    Err(err) => print_line(&json!({ "reply": { "cmd": line, "ok": false, "error": err.to_string() } })),
                }
            }
            Some(notice) = notices.recv() => {
                if let Some(event) = follow(&session, notice).await {
                    print_line(&serde_json::to_value(&event)?);
                }
            }
            _ = speaker.tick(), if !real_speaker() => session.remote.mix(&mut speaker_buffer),
            _ = &mut sleep_until_deadline => {
                report("leave", session.leave().await);
                // Drain the events the leave caused, up to room.left.
                while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
                    print_line(&serde_json::to_value(&event)?);
                    if matches!(event, Event::RoomLeft { .. }) { break; }
                }
                break;
            }
        }
    }
    print_line(&summary::build(&session, &names));
    drop(devices);
    Ok(())
}

/// Shares `screen`, as the app does: the capture first, so the track has frames from the start.
async fn share(
    session: &RoomSession,
    devices: &Arc<LocalDevices>,
    screen: &str,
) -> Result<(), ErrorInfo> {
    devices.pick(DeviceKind::Screen, screen)?;
    let shared = session.start_screen_share().await;
    if shared.is_err() {
        devices.close(DeviceKind::Screen);
    }
    Ok(shared?)
}

/// Follows what the devices report, as the app does: an event is returned
/// to be printed; a device gone with nothing to replace it mutes that kind in
/// the call (or stops the share).
async fn follow(session: &RoomSession, notice: Notice) -> Option<Event> {
    let result = match notice {
        Notice::Event(event) => return Some(event),
        Notice::MuteBecauseGone(DeviceKind::Microphone) => session.set_audio_muted(true).await,
        Notice::MuteBecauseGone(_) => session.set_video_muted(true).await,
        Notice::ShareGone => session.stop_screen_share().await,
    };
    if let Err(err) = result {
        tracing::warn!(%err, "could not follow a device change in the call");
    }
    None
}

async fn run(session: &RoomSession, command: Command) {
    let (name, result) = match command {
        Command::MuteAudio => ("mute_audio", session.set_audio_muted(true).await),
        Command::UnmuteAudio => ("unmute_audio", session.set_audio_muted(false).await),
        Command::MuteVideo => ("mute_video", session.set_video_muted(true).await),
        Command::UnmuteVideo => ("unmute_video", session.set_video_muted(false).await),
        Command::Chat { text } => ("chat", session.chat(&text).await),
        Command::Whisper { to, text } => ("whisper", session.whisper(&to, &text).await),
        Command::Kick { member_id, reason } => ("kick", session.kick(&member_id, reason).await),
        Command::EndRoom => ("end_room", session.end_room().await),
        Command::Lock => ("lock", session.set_room_lock(true).await),
        Command::Unlock => ("unlock", session.set_room_lock(false).await),
        Command::SetPassword { password } => {
            ("set_password", session.set_room_password(password).await)
        }
        Command::VideoSize {
            member_id,
            kind,
            height,
        } => (
            "video_size",
            session.set_video_size(&member_id, kind, height).await,
        ),
        Command::Playback {
            member_id,
            playback,
        } => ("playback", session.set_playback(&member_id, playback).await),
        Command::Summary
        | Command::Leave
        | Command::Share
        | Command::Unshare
        | Command::Voice(_) => {
            unreachable!("handled by the caller")
        }
    };
    report(name, result);
}

/// Ends the bot as a failed join does: a typed `error` line, exit status 2.
fn exit_with_error(request: &str, error: ErrorInfo) -> ! {
    print_line(&json!({ "event": "error", "params": { "error": error, "request": request } }));
    std::process::exit(2);
}

fn exit_on_error<T>(request: &str, result: Result<T, conclave_devices::DeviceError>) -> T {
    result.unwrap_or_else(|err| exit_with_error(request, err.into()))
}

/// A command's outcome as a JSON line; here typed errors become `ErrorInfo`.
fn report<E: Into<ErrorInfo>>(cmd: &str, result: Result<(), E>) {
    let line = match result {
        Ok(()) => json!({ "reply": { "cmd": cmd, "ok": true } }),
        Err(error) => {
            let error: ErrorInfo = error.into();
            json!({ "reply": { "cmd": cmd, "ok": false, "error": error } })
        }
    };
    print_line(&line);
}

fn remember_names(names: &mut HashMap<MemberId, String>, event: &Event) {
    match event {
        Event::RoomJoined { members, .. } | Event::MemberListUpdated { members } => {
            for member in members {
                names.insert(member.id.clone(), member.name.clone());
            }
        }
        Event::MemberJoined { member } => {
            names.insert(member.id.clone(), member.name.clone());
        }
        _ => {}
    }
}

fn parse_opus_frame(text: &str) -> Result<u32, String> {
    let ms = text
        .parse()
        .map_err(|_| format!("{text} is not a number of ms"))?;
    OpusFrame::from_ms(ms)
        .map(OpusFrame::ms)
        .ok_or_else(|| format!("Opus frames are 10 or 20 ms here, not {ms}"))
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text).map_err(|e| e.to_string())
}
