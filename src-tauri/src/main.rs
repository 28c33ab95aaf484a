//! The Conclave desktop app: a Tauri window around one room session.
//!
//! - [`call`]: joining, hosting the embedded server, events to the UI, the lobby preview.
//! - [`commands`]: the Tauri commands the UI calls.
//! - [`errors`]: what they can fail with, typed.
//! - [`frames`]: the loopback frame socket that feeds the video tiles.
//! - [`api`]: the types shared with the UI (TypeScript generated from them).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod api;
mod call;
mod certificate;
mod commands;
mod errors;
mod frames;
mod hosting;
mod links;

use std::sync::Arc;

use tauri::{Emitter, Manager, WindowEvent};
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::prelude::*;

/// Conclave: video meetings in a native window.
#[derive(clap::Parser, Debug)]
#[command(version, about = "Conclave: video meetings in a native window.")]
struct Args {
    /// A room link, `conclave://HOST:PORT/ROOM`, to fill in the lobby with.
    link: Option<String>,
}

/// How long closing the window waits for the call's `leave` to go out.
const LEAVE_ON_CLOSE: std::time::Duration = std::time::Duration::from_secs(1);

fn main() {
    let launched_at_ms = process_start_ms();
    let args = match <Args as clap::Parser>::try_parse() {
        Ok(args) => args,
        // --help and --version print and exit, before anything needs a display.
        Err(e) if !e.use_stderr() => e.exit(),
        // WebKit's automation adds arguments of its own: not ours to refuse.
        Err(_) => Args { link: None },
    };
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "conclave: no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set)"
        );
        std::process::exit(1);
    }
    choose_compositing();
    prefer_dark_gtk();
    // The embedded server's WebRTC stack can warn once per bad packet: bounded per line of code.
    let levels =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_filter(levels.and(conclave_server::logs::LogBudget::default())),
        )
        .init();
    // A `conclave://HOST:PORT/ROOM` argument (from the link handler) fills in the lobby.
    let opened_link = args.link.map(|link| links::parse(&link, ""));

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    tauri::async_runtime::set(runtime.handle().clone());
    let frames = Arc::new(frames::FrameHub::new(frame_path()));
    let frame_server = runtime
        .block_on(frames::start(frames.clone()))
        .expect("start the frame socket on loopback");

    let mut builder = tauri::Builder::default();
    // One instance per user: the session bus tells a second launch that one
    // runs, and hands it the second one's arguments. Without a session bus
    // (a bare X server) every launch is on its own, as before.
    if has_session_bus() {
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            on_second_launch(app, argv)
        }));
    }
    builder
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let app = window.app_handle().state::<call::App>();
                // Closing while hosting ends the meeting for everyone: ask first.
                // Asked already and closed again: the user means it.
                let asked = app
                    .quit_asked
                    .swap(true, std::sync::atomic::Ordering::Relaxed);
                if app.is_hosting() && !asked {
                    api.prevent_close();
                    let _ = window.emit(api::STATUS_CHANNEL, api::AppStatus::QuitWhileHosting {});
                    return;
                }
                // Say goodbye first (a second at most), so the others see a
                // leave, not a member reconnecting for the grace period.
                api.prevent_close();
                let handle = window.app_handle().clone();
                tauri::async_runtime::spawn(async move {
                    let app = handle.state::<call::App>();
                    let _ = tokio::time::timeout(LEAVE_ON_CLOSE, app.leave()).await;
                    handle.exit(0);
                });
            }
        })
        .setup(move |app| {
            let config_dir = app.path().app_config_dir()?;
            app.manage(call::App::new(
                frames,
                frame_server.url,
                opened_link,
                launched_at_ms,
                config_dir,
            ));
            let handle = app.handle().clone();
            app.state::<call::App>()
                .devices
                .watch(move |notice| call::App::on_device_notice(&handle, notice));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_devices,
            commands::start_preview,
            commands::stop_preview,
            commands::join,
            commands::app_state,
            commands::quit,
            commands::cancel_quit,
            commands::leave,
            commands::end_meeting,
            commands::set_audio_muted,
            commands::set_video_muted,
            commands::set_voice,
            commands::set_playback,
            commands::start_share,
            commands::stop_share,
            commands::send_chat,
            commands::send_whisper,
            commands::kick,
            commands::set_room_lock,
            commands::set_room_password,
            commands::pick_device,
            commands::parse_room_link,
            commands::mic_level,
            commands::test_speaker,
            commands::open_frame_channel,
            commands::frame_channel_text,
        ])
        .run(tauri::generate_context!())
        .expect("run the Conclave window");
}

fn has_session_bus() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists())
}

/// Another `conclave` was started: show this window instead, with its link.
fn on_second_launch(app: &tauri::AppHandle, argv: Vec<String>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
    let link = match <Args as clap::Parser>::try_parse_from(&argv) {
        Ok(Args { link: Some(link) }) => link,
        _ => return,
    };
    let name = app
        .state::<call::App>()
        .last_choices()
        .map(|c| c.name)
        .unwrap_or_default();
    let status = match links::parse(&link, &name) {
        Ok(choices) => api::AppStatus::LinkOpened { choices },
        Err(message) => api::AppStatus::LinkRefused { link, message },
    };
    let _ = app.emit(api::STATUS_CHANNEL, status);
}

/// The frame path `CONCLAVE_FRAME_PATH` names, else the default (the fastest
/// measured, see BENCHMARKS.md).
fn frame_path() -> api::FramePath {
    let Ok(name) = std::env::var("CONCLAVE_FRAME_PATH") else {
        return api::FramePath::default();
    };
    api::FramePath::from_name(&name).unwrap_or_else(|| {
        let known: Vec<String> = api::FramePath::ALL.iter().map(|p| p.name()).collect();
        tracing::warn!(
            "CONCLAVE_FRAME_PATH={name} is none of {}; using the default",
            known.join(", ")
        );
        api::FramePath::default()
    })
}

/// When this process was started (Unix ms): from the kernel's record on Linux,
/// so the time to load the binary counts too; otherwise now.
fn process_start_ms() -> f64 {
    let now = conclave_protocol::clock::unix_ms_f64();
    process_age_secs().map_or(now, |age| now - age * 1000.0)
}

#[cfg(target_os = "linux")]
fn process_age_secs() -> Option<f64> {
    // Field 22 of /proc/self/stat is the start time in clock ticks after boot
    // (100 per second on Linux); /proc/uptime is now, in seconds after boot.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let start_ticks: f64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((uptime - start_ticks / 100.0).max(0.0))
}

#[cfg(not(target_os = "linux"))]
fn process_age_secs() -> Option<f64> {
    None
}

/// WebKitGTK composites with OpenGL. Without a GPU that GL is llvmpipe, and
/// the lobby alone then costs one and a half cores; with compositing off,
/// pages are drawn by the CPU directly. So: off when this machine has no GPU
/// render node (`/dev/dri/renderD*`), unless the user chose
/// (`WEBKIT_DISABLE_COMPOSITING_MODE` set either way).
fn choose_compositing() {
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_some() {
        return;
    }
    let has_gpu = std::fs::read_dir("/dev/dri").is_ok_and(|nodes| {
        nodes
            .flatten()
            .any(|node| node.file_name().to_string_lossy().starts_with("renderD"))
    });
    if !has_gpu {
        // SAFETY: at the start of main, before any other thread exists.
        unsafe {
            std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
            // DMA-BUF buffers need a GPU to share them with.
            std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        }
    }
}

/// WebKitGTK draws the list of a `<select>` with the GTK theme, not the
/// page's CSS: a white list in the dark UI. Dark Adwaita matches it, unless
/// the user chose a GTK theme.
fn prefer_dark_gtk() {
    if std::env::var_os("GTK_THEME").is_none() {
        // SAFETY: at the start of main, before any other thread exists.
        unsafe { std::env::set_var("GTK_THEME", "Adwaita:dark") };
    }
}
