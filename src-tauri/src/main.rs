//! Placeholder for the Tauri desktop shell. The room core lives in `crates/`;
//! the window, the UI and the Tauri commands come with the desktop-app issue.

fn main() {
    println!(
        "conclave {}: the desktop app is not built yet; see conclave-bot and conclave-server",
        env!("CARGO_PKG_VERSION")
    );
}
