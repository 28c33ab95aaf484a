//! Room links: `conclave://HOST:PORT/ROOM` fills in the whole lobby;
//! `#fp=<64 hex digits>` names the server's certificate (a host's
//! self-signed one), the only one the joining app then accepts;
//! `#token=<join token>` (with `&` after a fingerprint) is the holder's
//! ticket to a server that lets in only members with one. A link the app
//! makes to invite others never carries its own user's token.

use conclave_protocol::Fingerprint;

use crate::api::{LobbyChoices, MeetingPlace};

pub fn parse(link: &str, name: &str) -> Result<LobbyChoices, String> {
    let rest = link
        .trim()
        .strip_prefix("conclave://")
        .ok_or("a room link starts with conclave://")?;
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (mut fingerprint, mut token) = (None, None);
    for part in fragment.split('&').filter(|part| !part.is_empty()) {
        match part.split_once('=') {
            Some(("fp", hex)) => {
                let parsed = Fingerprint::parse(hex)
                    .map_err(|_| "the link's certificate fingerprint is not 64 hex digits")?;
                fingerprint = Some(parsed.to_string());
            }
            Some(("token", jwt)) if !jwt.is_empty() => token = Some(jwt.to_owned()),
            _ => {
                return Err(
                    "a room link's #part holds fp=<certificate fingerprint> and token=<join token>"
                        .into(),
                );
            }
        }
    }
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
            fingerprint,
        },
        camera_id: None,
        microphone_id: None,
        speaker_id: None,
        audio_muted: false,
        video_muted: false,
        voice: crate::api::VoiceSettings::default(),
        password: None,
        token,
    })
}

pub fn make(address: &str, room: &str, fingerprint: Option<&str>) -> String {
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
    match fingerprint {
        Some(fp) => format!("conclave://{address}/{encoded}#fp={fp}"),
        None => format!("conclave://{address}/{encoded}"),
    }
}

/// Where the app connects for a server address as typed (`HOST:PORT`, or
/// with `ws://` / `wss://` in front), and the certificate it pins: TLS with
/// the link's certificate when there is a fingerprint, else TLS checked by
/// the system's authorities, except plain on loopback or when `ws://` says so.
/// Also the address as others should be told it (without the scheme).
pub fn server_url(typed: &str, fingerprint: Option<&str>) -> Result<ServerUrl, String> {
    let typed = typed.trim();
    let (scheme, address) = match typed.split_once("://") {
        Some(("ws", address)) => (Some("ws"), address),
        Some(("wss", address)) => (Some("wss"), address),
        Some((other, _)) => {
            return Err(format!("{other}:// is not a server address; use HOST:PORT"));
        }
        None => (None, typed),
    };
    let address = address
        .trim_end_matches('/')
        .trim_end_matches("/ws")
        .to_owned();
    let pin = fingerprint
        .map(|fp| Fingerprint::parse(fp).map_err(|e| e.to_string()))
        .transpose()?;
    let secure = match scheme {
        Some(scheme) => scheme == "wss",
        None => pin.is_some() || !is_loopback(&address),
    };
    let scheme = if secure { "wss" } else { "ws" };
    Ok(ServerUrl {
        url: format!("{scheme}://{address}/ws"),
        pin: pin.filter(|_| secure),
        address,
    })
}

#[derive(Debug, PartialEq)]
pub struct ServerUrl {
    pub url: String,
    pub pin: Option<Fingerprint>,
    pub address: String,
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
                address: "192.168.1.20:7880".into(),
                fingerprint: None,
            }
        );
        assert_eq!(choices.room, "design review");
        assert_eq!(choices.name, "ann");
    }

    #[test]
    fn a_link_may_carry_a_join_token_beside_the_fingerprint() {
        let fp = Fingerprint::of(b"a certificate").to_string();
        let link = format!("conclave://meet.example.org:7880/standup#fp={fp}&token=eyJ0.eyJy.c2ln");
        let choices = parse(&link, "").unwrap();
        assert_eq!(choices.token.as_deref(), Some("eyJ0.eyJy.c2ln"));
        let MeetingPlace::Server { fingerprint, .. } = &choices.place else {
            panic!("a server link");
        };
        assert_eq!(fingerprint.as_deref(), Some(fp.as_str()));
        let only_token = parse("conclave://meet.example.org:7880/standup#token=abc", "").unwrap();
        assert_eq!(only_token.token.as_deref(), Some("abc"));
        assert!(parse("conclave://meet.example.org:7880/standup#pw=1", "").is_err());
        assert!(
            parse("conclave://meet.example.org:7880/standup", "")
                .unwrap()
                .token
                .is_none()
        );
    }

    #[test]
    fn links_round_trip() {
        let link = make("10.0.0.5:7880", "standup/é", None);
        assert_eq!(parse(&link, "").unwrap().room, "standup/é");
    }

    #[test]
    fn a_link_names_the_hosts_certificate() {
        let fp = Fingerprint::of(b"a certificate").to_string();
        let link = make("10.0.0.5:7880", "standup", Some(&fp));
        assert!(link.ends_with(&format!("#fp={fp}")));
        let MeetingPlace::Server { fingerprint, .. } = parse(&link, "").unwrap().place else {
            panic!("a server link");
        };
        assert_eq!(fingerprint.as_deref(), Some(fp.as_str()));
        assert!(parse("conclave://10.0.0.5:7880/standup#fp=123", "").is_err());
        assert!(parse("conclave://10.0.0.5:7880/standup#x=1", "").is_err());
    }

    #[test]
    fn typed_addresses_use_tls_unless_loopback_or_told_otherwise() {
        let url = |typed, fp| server_url(typed, fp).unwrap().url;
        assert_eq!(
            url("meet.example.org:7880", None),
            "wss://meet.example.org:7880/ws"
        );
        assert_eq!(url("127.0.0.1:7880", None), "ws://127.0.0.1:7880/ws");
        assert_eq!(url("ws://10.0.0.5:7880", None), "ws://10.0.0.5:7880/ws");
        assert_eq!(
            url("wss://127.0.0.1:7880/ws", None),
            "wss://127.0.0.1:7880/ws"
        );
        let fp = Fingerprint::of(b"x").to_string();
        let pinned = server_url("127.0.0.1:7880", Some(&fp)).unwrap();
        assert_eq!(pinned.url, "wss://127.0.0.1:7880/ws");
        assert_eq!(pinned.pin, Some(Fingerprint::of(b"x")));
        assert_eq!(pinned.address, "127.0.0.1:7880");
        assert!(server_url("http://x:1", None).is_err());
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
