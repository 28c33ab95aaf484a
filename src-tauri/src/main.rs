//! The Conclave desktop app: a Tauri window around one room session.
//!
//! - [`call`]: joining, hosting the embedded server, events to the UI, the lobby preview.
//! - [`commands`]: the Tauri commands the UI calls.
//! - [`frames`]: the loopback frame socket that feeds the video tiles.
//! - [`api`]: the types shared with the UI (TypeScript generated from them).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod api;
mod call;
mod commands;
mod devices;
mod frames;
mod links;

use std::sync::Arc;

use tauri::Manager;

fn main() {
    if std::env::args().any(|a| a == "--version" || a == "-V") {
        println!("conclave {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    // A `conclave://HOST:PORT/ROOM` argument (from the link handler) fills in the lobby.
    let link_choices = std::env::args()
        .skip(1)
        .find(|a| a.starts_with("conclave://"))
        .and_then(|link| links::parse(&link, "").ok());

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    tauri::async_runtime::set(runtime.handle().clone());
    let frames = Arc::new(frames::FrameHub::default());
    let frame_server = runtime
        .block_on(frames::start(frames.clone()))
        .expect("start the frame socket on loopback");

    tauri::Builder::default()
        .setup(move |app| {
            let config_dir = app.path().app_config_dir()?;
            app.manage(call::App::new(
                frames,
                frame_server.url,
                link_choices,
                config_dir,
            ));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_devices,
            commands::start_preview,
            commands::stop_preview,
            commands::join,
            commands::leave,
            commands::set_audio_muted,
            commands::set_video_muted,
            commands::start_share,
            commands::stop_share,
            commands::send_chat,
            commands::send_whisper,
            commands::kick,
            commands::pick_device,
            commands::parse_room_link,
        ])
        .run(tauri::generate_context!())
        .expect("run the Conclave window");
}
