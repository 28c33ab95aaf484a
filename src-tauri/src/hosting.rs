//! How the embedded host is reached from outside its own network, from
//! `hosting.toml` in the app's config directory (optional):
//!
//! ```toml
//! turn = ["turn:turn.example.org:3478"]
//! turn-secret = "coturn's static-auth-secret"
//! ```
//!
//! With TURN, a host behind a home NAT that forwards nothing is still
//! reached: its media, and its members', can go through the relay.

use std::path::Path;
use std::time::Duration;

use conclave_server::TurnConfig;
use serde::Deserialize;

use crate::errors::AppError;

pub const HOSTING_FILE: &str = "hosting.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HostingSettings {
    #[serde(default)]
    turn: Vec<String>,
    turn_secret: Option<String>,
}

impl HostingSettings {
    /// The settings in `config_dir`, or none when there is no file.
    pub fn load(config_dir: &Path) -> Result<Self, AppError> {
        let path = config_dir.join(HOSTING_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(AppError::HostSettings(format!("{}: {e}", path.display()))),
        };
        let settings: Self = toml::from_str(&text)
            .map_err(|e| AppError::HostSettings(format!("{}: {e}", path.display())))?;
        if !settings.turn.is_empty() && settings.turn_secret.is_none() {
            let why = format!("{}: turn needs turn-secret too", path.display());
            return Err(AppError::HostSettings(why));
        }
        Ok(settings)
    }

    /// TURN for the host and its members, if configured: the host relays
    /// its own media too, since the point is being reached from outside.
    pub fn turn(&self) -> Option<TurnConfig> {
        let secret = self.turn_secret.clone().filter(|_| !self.turn.is_empty())?;
        Some(TurnConfig {
            urls: self.turn.clone(),
            secret,
            ttl: Duration::from_secs(24 * 3600),
            relay_server_media: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("conclave-hosting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            HostingSettings::load(&dir).unwrap().turn().is_none(),
            "no file"
        );
        let file = dir.join(HOSTING_FILE);
        std::fs::write(
            &file,
            "turn = [\"turn:203.0.113.5:3478\"]\nturn-secret = \"s\"\n",
        )
        .unwrap();
        let turn = HostingSettings::load(&dir).unwrap().turn().unwrap();
        assert_eq!(turn.urls, ["turn:203.0.113.5:3478"]);
        assert!(turn.relay_server_media);
        std::fs::write(&file, "turn = [\"turn:203.0.113.5:3478\"]\n").unwrap();
        let error = HostingSettings::load(&dir).unwrap_err().to_string();
        assert!(error.contains("turn-secret"), "{error}");
        std::fs::write(&file, "tunr = []\n").unwrap();
        let error = HostingSettings::load(&dir).unwrap_err().to_string();
        assert!(error.contains("tunr"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
