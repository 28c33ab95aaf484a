//! Who may connect, and how privately: `wss://` with a certificate from an
//! authority or pinned by fingerprint, each certificate failure as its typed
//! error, the Origin check on the WebSocket upgrade, and no plain text off
//! loopback unless asked for. Real server, real bots.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use conclave_tests::certs::{self, TestCa};
use conclave_tests::{Bot, SMALL_VIDEO, Server, binary, colour_distance};
use serde_json::Value;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn tls_server(cert: &certs::ServerCert) -> Server {
    let (cert, key) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    Server::start_with(&["--tls-cert", cert, "--tls-key", key])
}

/// The code of the error a bot that cannot join room `r` reports.
fn join_error(server: &Server, envs: &[(&str, &Path)], args: &[&str]) -> String {
    Bot::join_refusal(server, "r", envs, args)
}

fn dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("conclave-access-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn members_meet_over_wss_with_a_certificate_from_an_authority() {
    let dir = dir("ca");
    let ca = TestCa::new(&dir);
    let server = tls_server(&ca.server_cert(&dir, "server", false));
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    let trust = [("SSL_CERT_FILE", ca.pem.as_path())];
    let video = |colour: &'static str| {
        let mut args = vec!["--colour", colour, "--no-microphone"];
        args.extend_from_slice(SMALL_VIDEO);
        args
    };
    let mut ann = Bot::join_env(&trust, &server, "r", "ann", &video("#e03030"));
    let bob = Bot::join_env(&trust, &server, "r", "bob", &video("#30c030"));
    let got = ann.wait_media(&bob.member_id(), "camera", 10, SECS(15));
    let seen = got["camera_mean_colour"].as_str().unwrap_or_default();
    assert!(
        colour_distance(seen, "#30c030") <= 30,
        "ann saw bob as {seen}"
    );

    // The same server, to a client that does not know the authority.
    assert_eq!(join_error(&server, &[], &[]), "certificate_untrusted");
}

#[test]
fn an_expired_certificate_is_refused_as_expired() {
    let dir = dir("expired");
    let ca = TestCa::new(&dir);
    let server = tls_server(&ca.server_cert(&dir, "old", true));
    let trust = [("SSL_CERT_FILE", ca.pem.as_path())];
    assert_eq!(join_error(&server, &trust, &[]), "certificate_expired");
}

#[test]
fn a_pinned_self_signed_certificate_is_accepted_and_another_is_refused() {
    let dir = dir("pin");
    let cert = certs::self_signed(&dir, "host");
    let server = tls_server(&cert);
    let pinned = [
        "--pin-sha256",
        cert.fingerprint.as_str(),
        "--no-camera",
        "--no-microphone",
    ];
    let ann = Bot::join(&server, "r", "ann", &pinned);
    assert!(!ann.member_id().is_empty());
    // Without the pin nobody vouches for it; with another pin it is not the one.
    assert_eq!(join_error(&server, &[], &[]), "certificate_untrusted");
    let other = certs::self_signed(&dir, "other");
    assert_eq!(
        join_error(&server, &[], &["--pin-sha256", &other.fingerprint]),
        "certificate_mismatch"
    );
    // A pinned certificate is taken as it is, even one marked as an authority
    // (what `openssl req -x509` makes).
    let openssl_style = certs::self_signed_authority(&dir, "openssl-style");
    let server = tls_server(&openssl_style);
    let pinned = [
        "--pin-sha256",
        openssl_style.fingerprint.as_str(),
        "--no-camera",
        "--no-microphone",
    ];
    assert!(
        !Bot::join(&server, "r", "bob", &pinned)
            .member_id()
            .is_empty()
    );
}

/// The upgrade request's answer: its HTTP status and body.
async fn upgrade_with_origin(server: &Server, origin: Option<&str>) -> (u16, String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.url.as_str().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), String::new()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(other) => panic!("upgrade failed otherwise: {other}"),
    }
}

#[tokio::test]
async fn web_pages_from_other_origins_may_not_connect() {
    let server = Server::start_with(&["--allow-origin", "https://meet.example.org"]);
    let own = format!("http://{}", server.addr());
    let (status, body) = upgrade_with_origin(&server, Some("http://evil.example")).await;
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "origin_refused");
    for allowed in [None, Some(own.as_str()), Some("https://meet.example.org")] {
        let (status, _) = upgrade_with_origin(&server, allowed).await;
        assert_eq!(status, 101, "origin {allowed:?} is refused");
    }
}

#[test]
fn plain_text_off_loopback_needs_insecure() {
    let out = Command::new(binary("conclave-server"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("run conclave-server");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--insecure") && said.contains("--tls-cert"),
        "{said}"
    );
}

#[test]
fn a_moderator_locks_the_room_and_sets_a_password() {
    let server = Server::start();
    let quiet = ["--no-camera", "--no-microphone"];
    let mut host = Bot::join(
        &server,
        "r",
        "host",
        &[&quiet[..], &["--moderator-secret", "s3cret"]].concat(),
    );
    let guest = Bot::join(&server, "r", "guest", &quiet);
    let reply = host.command(serde_json::json!({ "cmd": "lock" }));
    assert_eq!(reply["ok"], true, "{reply}");
    guest
        .wait_event("room.updated", SECS(5))
        .filter(|e| e["params"]["locked"] == true)
        .expect("the guest hears the room is locked");
    assert_eq!(join_error(&server, &[], &[]), "room_locked");

    host.command(serde_json::json!({ "cmd": "unlock" }));
    let reply = host.command(serde_json::json!({ "cmd": "set_password", "password": "tulip" }));
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(join_error(&server, &[], &[]), "wrong_password");
    assert_eq!(
        join_error(&server, &[], &["--password", "rose"]),
        "wrong_password"
    );
    let late = Bot::join(
        &server,
        "r",
        "late",
        &[&quiet[..], &["--password", "tulip"]].concat(),
    );
    let said = late
        .wait_event("room.updated", SECS(5))
        .expect("a newcomer hears the room has a password");
    assert_eq!(said["params"]["password_protected"], true);
    assert!(!said.to_string().contains("tulip"), "{said}");
}

/// `conclave-server token ...`: a join token signed with `secret`.
fn token(secret: &str, args: &[&str]) -> String {
    let out = Command::new(binary("conclave-server"))
        .arg("token")
        .args(args)
        .env("CONCLAVE_AUTH_SECRET", secret)
        .output()
        .expect("run conclave-server token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_server_with_an_auth_secret_lets_in_only_holders_of_its_tokens() {
    let server = Server::start_with(&["--auth-secret", "correct horse"]);
    let quiet = ["--no-camera", "--no-microphone"];
    let for_room = |secret: &str, room: &str, extra: &[&str]| {
        token(
            secret,
            &[&["--room", room, "--name", "Ada"][..], extra].concat(),
        )
    };
    assert_eq!(join_error(&server, &[], &[]), "auth_required");
    let forged = for_room("wrong horse", "r", &[]);
    assert_eq!(
        join_error(&server, &[], &["--token", &forged]),
        "token_invalid"
    );
    let other_room = for_room("correct horse", "elsewhere", &[]);
    assert_eq!(
        join_error(&server, &[], &["--token", &other_room]),
        "token_invalid"
    );
    let valid = for_room("correct horse", "r", &[]);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    // One character of the payload changed: the signature no longer fits.
    let flipped = if payload.ends_with('A') { "B" } else { "A" };
    let tampered = format!(
        "{head}.{}{flipped}.{signature}",
        &payload[..payload.len() - 1]
    );
    assert_eq!(
        join_error(&server, &[], &["--token", &tampered]),
        "token_invalid"
    );
    let short = for_room("correct horse", "r", &["--ttl", "1s"]);
    std::thread::sleep(SECS(2));
    assert_eq!(
        join_error(&server, &[], &["--token", &short]),
        "token_expired"
    );

    // A participant's token: in, under the token's name, as a participant
    // (with tokens, being first makes nobody a moderator).
    let guest = Bot::join(
        &server,
        "r",
        "whoever",
        &[&quiet[..], &["--token", &valid]].concat(),
    );
    let joined = guest.wait_event("room.joined", SECS(5)).unwrap();
    let me = &joined["params"]["members"][0];
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("Ada"), Some("participant"))
    );
    let host_token = token(
        "correct horse",
        &["--room", "r", "--name", "Host", "--moderator"],
    );
    let host = Bot::join(
        &server,
        "r",
        "host",
        &[&quiet[..], &["--token", &host_token]].concat(),
    );
    let joined = host.wait_event("room.joined", SECS(5)).unwrap();
    assert_eq!(joined["params"]["role"], "moderator", "{joined}");
}

/// The `welcome` a server sends after `hello`, over a connection from `origin`.
async fn welcome(server: &Server, origin: &str) -> Value {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("origin {origin} refused: {e}"));
    let hello = r#"{"id":1,"type":"hello","version":1,"client":"access-test"}"#;
    ws.send(Message::text(hello)).await.unwrap();
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "welcome" {
                return value;
            }
        }
    }
    panic!("no welcome");
}

#[tokio::test]
async fn a_config_file_sets_what_the_options_set_and_the_command_line_wins() {
    let dir = dir("config");
    let config = dir.join("conclave-server.toml");
    std::fs::write(
        &config,
        "allow-origin = [\"https://a.example\", \"https://b.example\"]\nmax-members = 2\nmax-rooms = 7\n",
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap(), "--max-members", "3"]);
    let welcome = welcome(&server, "https://b.example").await;
    let limits = &welcome["limits"];
    assert_eq!(
        limits["max_members_per_room"], 3,
        "the command line wins: {welcome}"
    );
    assert_eq!(
        limits["max_rooms"], 7,
        "the file sets what the command line does not: {welcome}"
    );
    // Both origins of the file's list are allowed, and only they.
    let _ = self::welcome(&server, "https://a.example").await;
    let (status, _) = upgrade_with_origin(&server, Some("https://c.example")).await;
    assert_eq!(status, 403);

    std::fs::write(&config, "max-member = 2\n").unwrap();
    let out = Command::new(binary("conclave-server"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("max-member is not a setting"), "{said}");
}
