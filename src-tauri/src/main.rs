//! The Conclave desktop app. The Tauri window arrives with the desktop-app work;
//! [`api`] already defines its contract with the UI.

mod api;

fn main() {
    println!("conclave {}: the desktop window is not built yet; see conclave-bot and conclave-server", env!("CARGO_PKG_VERSION"));
}
