//! Tauri commands: the UI's only way to act. Each is a thin call into [`App`]
//! or the room session; errors reach the UI as typed `ErrorInfo`s.

use conclave_protocol::{ErrorCode, ErrorInfo, MemberId};
use tauri::{AppHandle, State};

use crate::api::{AppInfo, DeviceKind, DeviceList, Joined, LobbyChoices};
use crate::call::{App, error};
use crate::links;

type Result<T> = std::result::Result<T, ErrorInfo>;

#[tauri::command]
pub fn app_info(app: State<'_, App>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        frames_url: app.frames_url.clone(),
        last_choices: app.last_choices(),
        devices: app.devices.list(),
        link_choices: app.link_choices.clone(),
        launched_at_ms: app.launched_at_ms,
    }
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
}

#[tauri::command]
pub async fn stop_preview(app: State<'_, App>) -> Result<()> {
    app.stop_preview().await;
    Ok(())
}

#[tauri::command]
pub async fn join(app: State<'_, App>, handle: AppHandle, choices: LobbyChoices) -> Result<Joined> {
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
    app.start_share(&screen_id).await
}

#[tauri::command]
pub async fn stop_share(app: State<'_, App>) -> Result<()> {
    app.stop_share().await
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

/// Switches a device, in the lobby or mid-call; the call goes on.
#[tauri::command]
pub async fn pick_device(app: State<'_, App>, kind: DeviceKind, id: String) -> Result<()> {
    Ok(app.devices.pick(kind, &id)?)
}

#[tauri::command]
pub fn parse_room_link(app: State<'_, App>, link: String) -> Result<LobbyChoices> {
    let name = app.last_choices().map(|c| c.name).unwrap_or_default();
    links::parse(&link, &name).map_err(|message| error(ErrorCode::InvalidMessage, message))
}
