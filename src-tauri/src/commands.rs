//! Tauri commands: the UI's only way to act. Each is a thin call into [`App`]
//! or the room session. Here, and only here, typed errors become the UI's
//! `ErrorInfo`.

use conclave_protocol::{ErrorInfo, MemberId};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, State};

use crate::api::{AppInfo, AppState, DeviceKind, DeviceList, Joined, LobbyChoices};
use crate::call::App;
use crate::errors::AppError;
use crate::links;

type Result<T> = std::result::Result<T, ErrorInfo>;

/// Any typed error, as the UI gets it.
fn ui<E: Into<AppError>>(error: E) -> ErrorInfo {
    error.into().into()
}

#[tauri::command]
pub fn app_info(app: State<'_, App>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        frames_url: app.frames_url.clone(),
        frame_path: app.frames.path(),
        last_choices: app.last_choices(),
        devices: app.devices.list(),
        link_choices: app.opened_link.clone().and_then(|link| link.ok()),
        link_error: app.opened_link.clone().and_then(|link| link.err()),
        debug_build: cfg!(debug_assertions),
        launched_at_ms: app.launched_at_ms,
    }
}

/// The frame path `channel-rgba-2d`: frames go to this channel from now on.
/// Async, so it runs on the runtime that the channel's loop is spawned on.
#[tauri::command]
pub async fn open_frame_channel(
    app: State<'_, App>,
    channel: Channel<InvokeResponseBody>,
) -> Result<()> {
    app.frames.open_channel(channel);
    Ok(())
}

/// The page's subscription or answer for the open frame channel (the same
/// JSON as on the frame socket). False if it was none, or no channel is open.
#[tauri::command]
pub async fn frame_channel_text(app: State<'_, App>, text: String) -> Result<bool> {
    Ok(app.frames.channel_text(&text).await)
}

#[tauri::command]
pub fn list_devices(app: State<'_, App>) -> DeviceList {
    app.devices.list()
}

#[tauri::command]
pub async fn start_preview(
    app: State<'_, App>,
    handle: AppHandle,
    camera_id: Option<String>,
    microphone_id: Option<String>,
) -> Result<()> {
    let name = app.last_choices().map(|c| c.name).unwrap_or_default();
    app.start_preview(
        &handle,
        &name,
        camera_id.as_deref(),
        microphone_id.as_deref(),
    )
    .await
    .map_err(ui)
}

#[tauri::command]
pub async fn stop_preview(app: State<'_, App>) -> Result<()> {
    app.stop_preview().await;
    Ok(())
}

#[tauri::command]
pub async fn join(app: State<'_, App>, handle: AppHandle, choices: LobbyChoices) -> Result<Joined> {
    app.join(&handle, choices).await.map_err(ui)
}

/// The call the backend is in and the meeting it hosts: a reloaded page
/// shows the call again, the lobby shows that a meeting is still hosted.
#[tauri::command]
pub async fn app_state(app: State<'_, App>) -> Result<AppState> {
    Ok(app.state().await)
}

/// Quits the app; a meeting it hosts ends for everyone first.
#[tauri::command]
pub async fn quit(app: State<'_, App>, handle: AppHandle) -> Result<()> {
    if app.is_hosting() {
        // Nothing to end (not in the call, or it is over) is no reason to stay.
        let _ = app.end_meeting().await;
    }
    handle.exit(0);
    Ok(())
}

/// The user chose to stay after the quit-while-hosting question.
#[tauri::command]
pub fn cancel_quit(app: State<'_, App>) {
    app.quit_asked
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

#[tauri::command]
pub async fn leave(app: State<'_, App>) -> Result<()> {
    app.leave().await.map_err(ui)
}

/// Ends the meeting for everyone (a moderator's command); a hosted one stops.
#[tauri::command]
pub async fn end_meeting(app: State<'_, App>) -> Result<()> {
    app.end_meeting().await.map_err(ui)
}

#[tauri::command]
pub async fn set_audio_muted(app: State<'_, App>, muted: bool) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.set_audio_muted(muted).await.map_err(ui)
}

/// The microphone's processing during the call (the lobby's goes with the join).
#[tauri::command]
pub async fn set_voice(app: State<'_, App>, settings: crate::api::VoiceSettings) -> Result<()> {
    app.set_voice(settings).await.map_err(ui)
}

/// How loud another member plays here, or "mute for me"; nobody else hears a difference.
#[tauri::command]
pub async fn set_playback(
    app: State<'_, App>,
    member_id: String,
    playback: crate::api::Playback,
) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    (session.set_playback(&MemberId(member_id), playback).await).map_err(ui)
}

#[tauri::command]
pub async fn set_video_muted(app: State<'_, App>, muted: bool) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.set_video_muted(muted).await.map_err(ui)
}

#[tauri::command]
pub async fn start_share(app: State<'_, App>, screen_id: String) -> Result<()> {
    app.start_share(&screen_id).await.map_err(ui)
}

#[tauri::command]
pub async fn stop_share(app: State<'_, App>) -> Result<()> {
    app.stop_share().await.map_err(ui)
}

#[tauri::command]
pub async fn send_chat(app: State<'_, App>, text: String) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.chat(&text).await.map_err(ui)
}

#[tauri::command]
pub async fn send_whisper(app: State<'_, App>, to: String, text: String) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.whisper(&MemberId(to), &text).await.map_err(ui)
}

#[tauri::command]
pub async fn kick(app: State<'_, App>, member_id: String) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.kick(&MemberId(member_id), None).await.map_err(ui)
}

/// Locks the room (nobody new may join) or opens it; moderators only.
#[tauri::command]
pub async fn set_room_lock(app: State<'_, App>, locked: bool) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    session.set_room_lock(locked).await.map_err(ui)
}

/// Sets the room's password (`None` or empty: removes it); moderators only.
#[tauri::command]
pub async fn set_room_password(app: State<'_, App>, password: Option<String>) -> Result<()> {
    let session = app.session().await.map_err(ui)?;
    let password = password.filter(|p| !p.is_empty());
    session.set_room_password(password).await.map_err(ui)
}

/// Switches a device, in the lobby or mid-call; the call goes on.
#[tauri::command]
pub async fn pick_device(app: State<'_, App>, kind: DeviceKind, id: String) -> Result<()> {
    app.devices.pick(kind, &id).map_err(ui)
}

/// The microphone's level now, in dBFS: the in-call meter and Settings poll it.
#[tauri::command]
pub fn mic_level(app: State<'_, App>) -> f32 {
    app.devices.mic_level_dbfs()
}

/// Plays the speaker test tone on speaker `speaker_id`; the call's sound goes on.
#[tauri::command]
pub async fn test_speaker(app: State<'_, App>, speaker_id: String) -> Result<()> {
    let devices = app.devices.clone();
    // Opening a stream can wait on PulseAudio: not on the async runtime's threads.
    tokio::task::spawn_blocking(move || devices.play_test_sound(&speaker_id))
        .await
        .map_err(|_| ui(AppError::SpeakerTestFailed))?
        .map_err(ui)
}

#[tauri::command]
pub fn parse_room_link(app: State<'_, App>, link: String) -> Result<LobbyChoices> {
    let name = app.last_choices().map(|c| c.name).unwrap_or_default();
    links::parse(&link, &name).map_err(|message| ui(AppError::BadLink(message)))
}
