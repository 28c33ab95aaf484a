//! Room links: `conclave://HOST:PORT/ROOM` fills in the whole lobby.

use crate::api::{LobbyChoices, MeetingPlace};

pub fn parse(link: &str, name: &str) -> Result<LobbyChoices, String> {
    let rest = link
        .trim()
        .strip_prefix("conclave://")
        .ok_or("a room link starts with conclave://")?;
    let (address, room) = rest
        .split_once('/')
        .ok_or("a room link looks like conclave://HOST:PORT/ROOM")?;
    let room = room.trim_end_matches('/');
    let (host, port) = address.rsplit_once(':').ok_or("the link has no port")?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{address} is not HOST:PORT"));
    }
    if room.is_empty() || room.contains('/') {
        return Err("the link names no room".into());
    }
    let room = percent_decode(room)?;
    Ok(LobbyChoices {
        name: name.to_owned(),
        room,
        place: MeetingPlace::Server {
            address: address.to_owned(),
        },
        camera_id: None,
        microphone_id: None,
        speaker_id: None,
        audio_muted: false,
        video_muted: false,
    })
}

pub fn make(address: &str, room: &str) -> String {
    let encoded: String = room
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("conclave://{address}/{encoded}")
}

/// Whether `HOST:PORT` names this computer only (a loopback address or
/// `localhost`), so a link to it is no use to anyone else.
pub fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a broken %-escape in the link")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a broken %-escape in the link")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the room name is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_fills_in_server_and_room() {
        let choices = parse("conclave://192.168.1.20:7880/design%20review", "ann").unwrap();
        assert_eq!(
            choices.place,
            MeetingPlace::Server {
                address: "192.168.1.20:7880".into()
            }
        );
        assert_eq!(choices.room, "design review");
        assert_eq!(choices.name, "ann");
    }

    #[test]
    fn links_round_trip() {
        let link = make("10.0.0.5:7880", "standup/é");
        assert_eq!(parse(&link, "").unwrap().room, "standup/é");
    }

    #[test]
    fn loopback_addresses_are_told_apart_from_reachable_ones() {
        assert!(is_loopback("127.0.0.1:7880"));
        assert!(is_loopback("localhost:7880"));
        assert!(is_loopback("[::1]:7880"));
        assert!(!is_loopback("192.168.1.20:7880"));
        assert!(!is_loopback("meet.example.org:443"));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        assert!(parse("https://x:1/r", "").is_err());
        assert!(parse("conclave://host/room", "").is_err());
        assert!(parse("conclave://host:99999/room", "").is_err());
        assert!(parse("conclave://host:1/", "").is_err());
    }
}
