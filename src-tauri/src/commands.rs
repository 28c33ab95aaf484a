//! Tauri commands: the UI's only way to act. Each is a thin call into [`App`]
//! or the room session; errors reach the UI as typed `ErrorInfo`s.

use conclave_protocol::{ErrorCode, ErrorInfo, MemberId};
use tauri::{AppHandle, State};

use crate::api::{AppInfo, DeviceKind, DeviceList, Joined, LobbyChoices};
use crate::call::{App, error};
use crate::{devices, links};

type Result<T> = std::result::Result<T, ErrorInfo>;

#[tauri::command]
pub fn app_info(app: State<'_, App>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        frames_url: app.frames_url.clone(),
        last_choices: app.last_choices(),
        devices: devices::list(),
        link_choices: app.link_choices.clone(),
        launched_at_ms: app.launched_at_ms,
    }
}

#[tauri::command]
pub fn list_devices() -> DeviceList {
    devices::list()
}

#[tauri::command]
pub async fn start_preview(
    app: State<'_, App>,
    handle: AppHandle,
    camera_id: Option<String>,
    microphone_id: Option<String>,
) -> Result<()> {
    check_device(DeviceKind::Camera, camera_id.as_deref())?;
    check_device(DeviceKind::Microphone, microphone_id.as_deref())?;
    let name = app.last_choices().map(|c| c.name).unwrap_or_default();
    app.start_preview(&handle, &name).await;
    Ok(())
}

#[tauri::command]
pub async fn stop_preview(app: State<'_, App>) -> Result<()> {
    app.stop_preview().await;
    Ok(())
}

#[tauri::command]
pub async fn join(app: State<'_, App>, handle: AppHandle, choices: LobbyChoices) -> Result<Joined> {
    check_device(DeviceKind::Camera, choices.camera_id.as_deref())?;
    check_device(DeviceKind::Microphone, choices.microphone_id.as_deref())?;
    check_device(DeviceKind::Speaker, choices.speaker_id.as_deref())?;
    app.join(&handle, choices).await
}

#[tauri::command]
pub async fn leave(app: State<'_, App>) -> Result<()> {
    app.leave().await
}

#[tauri::command]
pub async fn set_audio_muted(app: State<'_, App>, muted: bool) -> Result<()> {
    app.session().await?.set_audio_muted(muted).await
}

#[tauri::command]
pub async fn set_video_muted(app: State<'_, App>, muted: bool) -> Result<()> {
    app.session().await?.set_video_muted(muted).await
}

#[tauri::command]
pub async fn start_share(app: State<'_, App>, screen_id: String) -> Result<()> {
    check_device(DeviceKind::Screen, Some(&screen_id))?;
    app.session().await?.start_screen_share().await
}

#[tauri::command]
pub async fn stop_share(app: State<'_, App>) -> Result<()> {
    app.session().await?.stop_screen_share().await
}

#[tauri::command]
pub async fn send_chat(app: State<'_, App>, text: String) -> Result<()> {
    app.session().await?.chat(&text).await
}

#[tauri::command]
pub async fn send_whisper(app: State<'_, App>, to: String, text: String) -> Result<()> {
    app.session().await?.whisper(&MemberId(to), &text).await
}

#[tauri::command]
pub async fn kick(app: State<'_, App>, member_id: String) -> Result<()> {
    app.session().await?.kick(&MemberId(member_id), None).await
}

/// Switches a device mid-call. Only the synthetic devices exist so far, one of each kind.
#[tauri::command]
pub async fn pick_device(kind: DeviceKind, id: String) -> Result<()> {
    check_device(kind, Some(&id))
}

#[tauri::command]
pub fn parse_room_link(app: State<'_, App>, link: String) -> Result<LobbyChoices> {
    let name = app.last_choices().map(|c| c.name).unwrap_or_default();
    links::parse(&link, &name).map_err(|message| error(ErrorCode::InvalidMessage, message))
}

fn check_device(kind: DeviceKind, id: Option<&str>) -> Result<()> {
    match id {
        Some(id) if !devices::exists(kind, id) => Err(error(
            ErrorCode::InvalidState,
            format!("no {kind:?} device {id}").to_lowercase(),
        )),
        _ => Ok(()),
    }
}
