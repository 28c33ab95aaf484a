//! Who is in a room, and the state everyone else sees of them.

use serde::{Deserialize, Serialize};

/// A member's id, assigned by the server on join. Unique within a server run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(transparent)]
pub struct MemberId(pub String);

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May kick others. The first member of a room, or a holder of the room's moderator secret.
    Moderator,
    Participant,
}

/// The public state of one member, as broadcast to the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    pub audio_muted: bool,
    pub video_muted: bool,
    pub screen_sharing: bool,
    pub talking: bool,
    /// Its connection dropped; it is in the room still, for the grace period,
    /// while it reconnects.
    #[serde(default)]
    pub reconnecting: bool,
}
