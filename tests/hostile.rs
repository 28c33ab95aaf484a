//! Bad input from a raw WebSocket: each message gets a clear, typed error,
//! the server stays up, and the other members' media keeps flowing.

use std::time::Duration;

use conclave_tests::{Bot, SMALL_VIDEO, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// Next JSON message from the server that is not an event or offer.
async fn next_answer(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an answer within 5 s");
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue, // answered by tungstenite
            other => panic!("socket ended: {other:?}"),
        };
        let value: Value = serde_json::from_str(&text).expect("the server sends JSON");
        if value["type"] == "reply" || value["type"] == "error" || value["type"] == "welcome" {
            return value;
        }
    }
}

/// The server's next SDP offer (nothing else may be pending).
async fn next_offer(socket: &mut Socket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an offer within 10 s");
        let Some(Ok(Message::Text(text))) = frame else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).expect("the server sends JSON");
        if value["type"] == "offer" {
            return value["sdp"].as_str().unwrap().to_owned();
        }
    }
}

async fn send(socket: &mut Socket, text: impl Into<String>) -> Value {
    socket.send(Message::text(text.into())).await.expect("send");
    next_answer(socket).await
}

fn code(answer: &Value) -> &str {
    assert_eq!(answer["type"], "error", "expected an error, got {answer}");
    answer["error"]["code"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_typed_errors_and_media_keeps_flowing() {
    let server = Server::start();
    // Two real members with media, in the room the attacker joins.
    let args: Vec<&str> = SMALL_VIDEO.to_vec();
    let alice = Bot::join(&server, "target", "alice", &args);
    let mut bob = Bot::join(&server, "target", "bob", &args);
    let alice_id = alice.member_id();
    // A member of another room, to try to kick across rooms.
    let outsider = Bot::join(
        &server,
        "elsewhere",
        "olga",
        &["--no-camera", "--no-microphone"],
    );
    let outsider_id = outsider.member_id();
    let frames_before = tokio::task::block_in_place(|| {
        bob.wait_media(&alice_id, "camera", 5, Duration::from_secs(15))
    })["camera_frames"]
        .as_u64()
        .unwrap();
    let attack_started = std::time::Instant::now();

    let mut ws = connect(&server.url).await;
    // Before hello.
    assert_eq!(
        code(
            &send(
                &mut ws,
                json!({"id": 1, "type": "join", "room": "target", "name": "mallory"}).to_string()
            )
            .await
        ),
        "hello_required"
    );
    assert_eq!(
        code(
            &send(
                &mut ws,
                json!({"id": 2, "type": "hello", "version": 99, "client": "x"}).to_string()
            )
            .await
        ),
        "unsupported_version"
    );
    let hello = send(
        &mut ws,
        json!({"id": 3, "type": "hello", "version": 1, "client": "hostile"}).to_string(),
    )
    .await;
    assert_eq!(hello["type"], "reply", "{hello}");
    assert_eq!(next_answer(&mut ws).await["type"], "welcome");
    // Requests that need a room, before joining.
    assert_eq!(
        code(
            &send(
                &mut ws,
                json!({"id": 4, "type": "chat", "text": "hi"}).to_string()
            )
            .await
        ),
        "not_joined"
    );
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_json"),
        ("".into(), "bad_json"),
        ("\u{0}\u{1}binary-ish".into(), "bad_json"),
        ("[1,2,3]".into(), "invalid_message"),
        ("42".into(), "invalid_message"),
        ("null".into(), "invalid_message"),
        (
            json!({"type": "hello", "version": 1, "client": "no id"}).to_string(),
            "invalid_message",
        ),
        (
            json!({"id": "seven", "type": "ping"}).to_string(),
            "invalid_message",
        ),
        (
            json!({"id": 5, "type": "teleport"}).to_string(),
            "invalid_message",
        ),
        (json!({"id": 6}).to_string(), "invalid_message"),
        (
            json!({"id": 7, "type": "join", "room": 5, "name": "m"}).to_string(),
            "invalid_message",
        ),
        (
            json!({"id": 8, "type": "join", "room": "target"}).to_string(),
            "invalid_message",
        ),
        (
            json!({"id": 9, "type": "join", "room": "target", "name": ""}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 10, "type": "join", "room": "target", "name": "x".repeat(65)}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 11, "type": "join", "room": "target", "name": "bell\u{7}"}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 12, "type": "join", "room": "", "name": "mallory"}).to_string(),
            "invalid_name",
        ),
        // Names that would mislead (docs/protocol.md, "Names and text").
        (
            json!({"id": 13, "type": "join", "room": "target", "name": "\u{200B}\u{200D}\u{2060}"}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 14, "type": "join", "room": "target", "name": "alice\u{202E}"}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 15, "type": "join", "room": "target", "name": format!("z{}", "\u{301}".repeat(50))}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 16, "type": "join", "room": "\u{2067}target", "name": "mallory"}).to_string(),
            "invalid_name",
        ),
        (
            json!({"id": 17, "type": "join", "room": "target", "name": "mallory", "moderator_secret": ""}).to_string(),
            "invalid_message",
        ),
    ];
    for (text, expected) in &cases {
        assert_eq!(
            code(&send(&mut ws, text.clone()).await),
            *expected,
            "for {text:?}"
        );
    }
    // Now join for real, as a participant.
    let joined = send(
        &mut ws,
        json!({"id": 20, "type": "join", "room": "target", "name": "mallory"}).to_string(),
    )
    .await;
    assert_eq!(joined["result"], "joined", "{joined}");
    assert_eq!(joined["role"], "participant");
    let offer = next_offer(&mut ws).await;
    let in_room: Vec<(Value, &str)> = vec![
        (
            json!({"id": 21, "type": "join", "room": "target", "name": "again"}),
            "already_joined",
        ),
        (
            json!({"id": 22, "type": "chat", "text": "I am alice", "from": alice_id}),
            "spoofed_sender",
        ),
        (
            json!({"id": 23, "type": "chat", "text": "x".repeat(5000)}),
            "too_large",
        ),
        (
            json!({"id": 24, "type": "chat", "text": "   "}),
            "invalid_message",
        ),
        (
            json!({"id": 25, "type": "chat", "text": 17}),
            "invalid_message",
        ),
        (
            json!({"id": 26, "type": "chat", "text": "hi", "to": "m999"}),
            "member_not_found",
        ),
        (
            json!({"id": 27, "type": "kick", "member_id": alice_id}),
            "not_moderator",
        ),
        (
            json!({"id": 28, "type": "kick", "member_id": outsider_id}),
            "not_moderator",
        ),
        (
            json!({"id": 29, "type": "stop_screen_share"}),
            "invalid_state",
        ),
        (
            json!({"id": 30, "type": "set_media", "audio_muted": "yes"}),
            "invalid_message",
        ),
        (
            json!({"id": 31, "type": "chat", "text": "\u{1}".repeat(4096)}),
            "invalid_message",
        ),
    ];
    for (message, expected) in &in_room {
        let answer = send(&mut ws, message.to_string()).await;
        assert_eq!(code(&answer), *expected, "for {message}");
    }
    // Answers that do not answer the server's offer: each refused, with its id
    // (after a pause, so the rate limit is not what refuses them).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let last_section = offer.rfind("m=").unwrap();
    let pretend = |sdp: &str| {
        sdp.replace("a=setup:actpass", "a=setup:active")
            .replace("a=ice-ufrag:", "a=ice-ufrag:x")
    };
    let lenient = [
        ("the server's own offer", offer.clone()),
        ("a missing m-section", pretend(&offer[..last_section])),
        ("a truncated answer", pretend(&offer[..offer.len() / 3])),
        ("garbage", "v=0 garbage".to_owned()),
    ];
    for (n, (case, sdp)) in lenient.iter().enumerate() {
        let id = 50 + n as u64;
        let answer = send(
            &mut ws,
            json!({"id": id, "type": "answer", "sdp": sdp}).to_string(),
        )
        .await;
        assert_eq!(code(&answer), "invalid_sdp", "{case}: {answer}");
        assert_eq!(answer["id"], id, "{case}: the error names the request");
    }
    // A frame over the limit (256 KiB) but under the transport's hard cap.
    let big = json!({"id": 40, "type": "chat", "text": "y".repeat(300 * 1024)}).to_string();
    assert_eq!(code(&send(&mut ws, big).await), "too_large");

    // A flood past the rate limit: some get rate_limited, and the socket survives.
    for i in 0..100 {
        ws.send(Message::text(
            json!({"id": 1000 + i, "type": "ping"}).to_string(),
        ))
        .await
        .unwrap();
    }
    let mut limited = 0;
    for _ in 0..100 {
        let answer = next_answer(&mut ws).await;
        if answer["type"] == "error" && answer["error"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(
        limited > 20,
        "only {limited} of 100 flooded pings were refused"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pong = send(&mut ws, json!({"id": 2000, "type": "ping"}).to_string()).await;
    assert_eq!(
        pong["result"], "pong",
        "the connection works again after the flood: {pong}"
    );

    // A frame beyond the transport cap: a typed error, then the socket closes.
    ws.send(Message::text("z".repeat(2 * 1024 * 1024)))
        .await
        .ok();
    let answer = next_answer(&mut ws).await;
    assert_eq!(code(&answer), "too_large");

    // Nobody else heard the attacker's spoofed chat, and the media never stopped.
    assert!(
        !alice
            .lines
            .all()
            .iter()
            .any(|v| v.to_string().contains("I am alice"))
    );
    let after = tokio::task::block_in_place(|| bob.summary())[&alice_id]["camera_frames"]
        .as_u64()
        .unwrap();
    // At 15 fps, at least half the frames sent during the attack must have been decoded.
    let expected = (attack_started.elapsed().as_secs_f64() * 15.0 * 0.5) as u64;
    assert!(
        after - frames_before >= expected,
        "alice's video stalled during the attack: {frames_before} -> {after}, expected {expected} more"
    );
    // The server still serves newcomers.
    let carol = tokio::task::block_in_place(|| Bot::join(&server, "target", "carol", &args));
    assert!(!carol.member_id().is_empty());
}

/// A raw client that has said hello.
async fn greeted(url: &str) -> Socket {
    let mut ws = connect(url).await;
    let hello = send(
        &mut ws,
        json!({"id": 1, "type": "hello", "version": 1, "client": "hostile"}).to_string(),
    )
    .await;
    assert_eq!(hello["type"], "reply", "{hello}");
    assert_eq!(next_answer(&mut ws).await["type"], "welcome");
    ws
}

async fn join_raw(ws: &mut Socket, id: u64, room: &str, name: &str, secret: Option<&str>) -> Value {
    let mut join = json!({"id": id, "type": "join", "room": room, "name": name});
    if let Some(secret) = secret {
        join["moderator_secret"] = json!(secret);
    }
    send(ws, join.to_string()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_names_secret_guessing_and_the_kick_race_are_handled() {
    let server = Server::start();
    let owner = Bot::join(
        &server,
        "board",
        "alice",
        &[
            "--no-camera",
            "--no-microphone",
            "--moderator-secret",
            "4711",
        ],
    );

    // Look-alikes: a Cyrillic "а", a case change, an exact duplicate all get a suffix;
    // a room name with a zero-width space is the same room.
    let (mut names, mut present) = (Vec::new(), Vec::new());
    for (n, (room, name)) in [
        ("board", "\u{430}lice"),
        ("board", "Alice"),
        ("board\u{200B}", "bob"),
        ("Board", "bob"),
    ]
    .iter()
    .enumerate()
    {
        let mut ws = greeted(&server.url).await;
        let joined = join_raw(&mut ws, 2, room, name, None).await;
        assert_eq!(joined["result"], "joined", "{joined}");
        assert_eq!(
            joined["room"], "board",
            "one room for look-alike room names"
        );
        let me = joined["members"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        names.push(me["name"].as_str().unwrap().to_owned());
        assert_eq!(joined["members"].as_array().unwrap().len(), 2 + n);
        present.push(ws); // stays in the room
    }
    assert_eq!(names, ["\u{430}lice (2)", "Alice (3)", "bob", "bob (2)"]);

    // Guessing the moderator secret: a few wrong ones, then rate_limited,
    // even for the right one, from any connection of this address.
    let mut refused = 0;
    for guess in 0..8u64 {
        let mut ws = greeted(&server.url).await;
        let answer = join_raw(&mut ws, 2, "board", "mallory", Some(&format!("{guess:04}"))).await;
        if answer["type"] == "error" {
            assert_eq!(code(&answer), "rate_limited", "{answer}");
            refused += 1;
        } else {
            assert_eq!(answer["role"], "participant");
        }
    }
    assert_eq!(refused, 3, "five wrong guesses, then throttled");
    let mut ws = greeted(&server.url).await;
    let right = join_raw(&mut ws, 2, "board", "mallory", Some("4711")).await;
    assert_eq!(
        code(&right),
        "rate_limited",
        "the right secret confirms nothing now"
    );

    // The kick race: a member keeps sending joins while it is kicked; none gets it back in.
    let mut victim = greeted(&server.url).await;
    let joined = join_raw(&mut victim, 2, "board", "victim", None).await;
    let victim_id = joined["member_id"].as_str().unwrap().to_owned();
    let (mut sink, mut stream) = victim.split();
    let flood = tokio::spawn(async move {
        for id in 100..160u64 {
            let join = json!({"id": id, "type": "join", "room": "board", "name": "victim"});
            if sink.send(Message::text(join.to_string())).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut owner = owner;
    let reply = tokio::task::block_in_place(|| {
        owner.command(json!({"cmd": "kick", "member_id": victim_id}))
    });
    assert_eq!(reply["ok"], true, "{reply}");
    let _ = flood.await;
    let mut rejoined = false;
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_secs(2), stream.next()).await
    {
        let value: Value = serde_json::from_str(&text).unwrap();
        rejoined |= value["result"] == "joined";
    }
    assert!(
        !rejoined,
        "a join sent during the kick got the victim back in"
    );
}
