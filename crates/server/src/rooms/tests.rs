//! The room rules, tested by feeding [`Rooms`] inputs and reading its
//! outputs. A child module of `rooms`, so it sees the private parts too.

use std::time::Duration;

use super::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------- harness

/// Where the harness's wall clock starts: 2023-11-14, Unix ms.
const START_UNIX_MS: u64 = 1_700_000_000_000;

/// A `Rooms` plus simulated clocks (monotonic and wall) and a request-id counter.
struct Harness {
    rooms: Rooms,
    now: Instant,
    unix_ms: u64,
    next_id: u64,
}

impl Harness {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        Self {
            rooms: Rooms::new(limits, "test-server"),
            now: Instant::now(),
            unix_ms: START_UNIX_MS,
            next_id: 100,
        }
    }

    fn connect(&mut self, n: u64) -> ConnId {
        let conn = ConnId(n);
        self.rooms
            .connect(conn, IpAddr::from([192, 0, 2, 1]), self.now);
        conn
    }

    /// Sends a raw frame. The clocks move 100 ms first, which refills two
    /// tokens, so tests that are not about the rate limit never hit it.
    fn frame(&mut self, conn: ConnId, text: &str) -> Vec<Output> {
        self.now += Duration::from_millis(100);
        self.unix_ms += 100;
        self.rooms.handle_frame(conn, text, self.now, self.unix_ms)
    }

    /// Sends `body` with a fresh `id`; returns the id and the outputs.
    fn request(&mut self, conn: ConnId, mut body: Value) -> (u64, Vec<Output>) {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = json!(id);
        let outs = self.frame(conn, &body.to_string());
        (id, outs)
    }

    /// Sends `body` and checks that the only output is an `ok` reply.
    fn ok(&mut self, conn: ConnId, body: Value) {
        let (id, outs) = self.request(conn, body);
        assert_eq!(outs, vec![ok_reply(conn, id)]);
    }

    /// `conn`'s connection drops and its member stays away for the whole
    /// grace period: what the room hears when it is removed.
    fn gone(&mut self, conn: ConnId) -> Vec<Output> {
        self.rooms.disconnect(conn, self.now);
        self.now += Duration::from_secs(Limits::default().reconnect_grace_secs.into());
        self.rooms.tick(self.now)
    }

    /// Connects and says hello.
    fn greeted(&mut self, n: u64) -> ConnId {
        let conn = self.connect(n);
        let (id, outs) = self.request(conn, hello_body(PROTOCOL_VERSION));
        assert_eq!(outs[0], ok_reply(conn, id));
        conn
    }

    /// Connects, says hello and joins `room` as `name`.
    fn joined(&mut self, n: u64, room: &str, name: &str) -> (ConnId, MemberId) {
        self.joined_with(n, json!({ "type": "join", "room": room, "name": name }))
    }

    fn joined_with(&mut self, n: u64, join: Value) -> (ConnId, MemberId) {
        let conn = self.greeted(n);
        let (id, outs) = self.request(conn, join);
        let member_id = match joined_reply(&outs, conn, id) {
            ReplyBody::Joined { member_id, .. } => member_id.clone(),
            _ => unreachable!(),
        };
        (conn, member_id)
    }
}

fn hello_body(version: u32) -> Value {
    json!({ "type": "hello", "version": version, "client": "rooms-tests" })
}

fn chat_body(text: &str) -> Value {
    json!({ "type": "chat", "text": text })
}

fn ok_reply(to: ConnId, id: u64) -> Output {
    Output::Send {
        to,
        msg: ServerMessage::Reply {
            id,
            body: ReplyBody::Ok {},
        },
    }
}

/// The first output must be the `joined` reply to `conn`'s request `id`.
fn joined_reply(outs: &[Output], conn: ConnId, id: u64) -> &ReplyBody {
    match outs.first() {
        Some(Output::Send {
            to,
            msg:
                ServerMessage::Reply {
                    id: reply_id,
                    body: body @ ReplyBody::Joined { .. },
                },
        }) if *to == conn && *reply_id == id => body,
        other => panic!("expected a joined reply to {conn:?} #{id} first, got {other:?}"),
    }
}

/// The outputs must be exactly one error to `conn`, with this id and code.
fn assert_only_error(outs: &[Output], conn: ConnId, id: Option<u64>, code: ErrorCode) {
    match outs {
        [
            Output::Send {
                to,
                msg:
                    ServerMessage::Error {
                        id: error_id,
                        error,
                    },
            },
        ] if *to == conn && *error_id == id && error.code == code => {}
        _ => panic!("expected only a {code:?} error #{id:?} to {conn:?}, got {outs:#?}"),
    }
}

fn messages_to(outs: &[Output], conn: ConnId) -> Vec<&ServerMessage> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } if *to == conn => Some(msg),
            _ => None,
        })
        .collect()
}

/// The events sent to `conn`, with chat timestamps zeroed so they compare.
fn events_to(outs: &[Output], conn: ConnId) -> Vec<Event> {
    messages_to(outs, conn)
        .into_iter()
        .filter_map(|msg| match msg {
            ServerMessage::Event { event, .. } => Some(untimed(event.clone())),
            _ => None,
        })
        .collect()
}

fn untimed(event: Event) -> Event {
    match event {
        Event::ChatMessage {
            from,
            from_name,
            text,
            sent_at_ms,
        } => {
            assert!(
                sent_at_ms >= START_UNIX_MS,
                "sent_at_ms is the wall clock given"
            );
            Event::ChatMessage {
                from,
                from_name,
                text,
                sent_at_ms: 0,
            }
        }
        Event::ChatWhisper {
            from,
            from_name,
            to,
            text,
            sent_at_ms,
        } => {
            assert!(
                sent_at_ms >= START_UNIX_MS,
                "sent_at_ms is the wall clock given"
            );
            Event::ChatWhisper {
                from,
                from_name,
                to,
                text,
                sent_at_ms: 0,
            }
        }
        other => other,
    }
}

fn media(outs: &[Output]) -> Vec<&MediaAction> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Media(action) => Some(action),
            _ => None,
        })
        .collect()
}

fn closes(outs: &[Output]) -> Vec<ConnId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn member(id: &MemberId, name: &str, role: Role) -> Member {
    Member {
        id: id.clone(),
        name: name.to_owned(),
        role,
        audio_muted: false,
        video_muted: false,
        screen_sharing: false,
        talking: false,
        reconnecting: false,
    }
}

fn chat_message(from: &MemberId, from_name: &str, text: &str) -> Event {
    Event::ChatMessage {
        from: from.clone(),
        from_name: from_name.to_owned(),
        text: text.to_owned(),
        sent_at_ms: 0,
    }
}

fn whisper(from: &MemberId, from_name: &str, to: &MemberId, text: &str) -> Event {
    Event::ChatWhisper {
        from: from.clone(),
        from_name: from_name.to_owned(),
        to: to.clone(),
        text: text.to_owned(),
        sent_at_ms: 0,
    }
}

/// Ada (moderator), Grace and Linus in room "standup".
struct Trio {
    h: Harness,
    ada: (ConnId, MemberId),
    grace: (ConnId, MemberId),
    linus: (ConnId, MemberId),
}

fn trio() -> Trio {
    let mut h = Harness::new();
    let ada = h.joined(1, "standup", "Ada");
    let grace = h.joined(2, "standup", "Grace");
    let linus = h.joined(3, "standup", "Linus");
    Trio {
        h,
        ada,
        grace,
        linus,
    }
}

// -------------------------------------------------------------- handshake

#[test]
fn hello_gets_ok_then_welcome() {
    let mut h = Harness::new();
    let c = h.connect(1);
    let (id, outs) = h.request(c, hello_body(PROTOCOL_VERSION));
    assert_eq!(
        outs,
        vec![
            ok_reply(c, id),
            Output::Send {
                to: c,
                msg: ServerMessage::Welcome {
                    version: PROTOCOL_VERSION,
                    server: "test-server".into(),
                    limits: Limits::default(),
                    ice_servers: vec![],
                },
            },
        ]
    );
    // Greeted now: ping works.
    let (id, outs) = h.request(c, json!({ "type": "ping" }));
    assert_eq!(
        outs,
        vec![Output::Send {
            to: c,
            msg: ServerMessage::Reply {
                id,
                body: ReplyBody::Pong {}
            }
        }]
    );
}

#[test]
fn welcome_hands_each_connection_its_own_turn_credentials() {
    let mut h = Harness::new();
    let turn = TurnConfig {
        urls: vec!["turn:203.0.113.5:3478".into()],
        secret: "north".into(),
        ttl: Duration::from_secs(600),
        relay_server_media: false,
    };
    h.rooms = Rooms::new(Limits::default(), "test-server").with_turn(turn.clone());
    let mut handed = Vec::new();
    for n in [1, 2] {
        let c = h.connect(n);
        let (_, outs) = h.request(c, hello_body(PROTOCOL_VERSION));
        let Some(Output::Send {
            msg: ServerMessage::Welcome { ice_servers, .. },
            ..
        }) = outs.get(1)
        else {
            panic!("no welcome: {outs:?}");
        };
        let expiry = h.unix_ms / 1000 + 600;
        assert_eq!(
            ice_servers,
            &[turn.credentials(&format!("c{n}"), h.unix_ms / 1000)]
        );
        assert!(ice_servers[0].username.starts_with(&format!("{expiry}:")));
        handed.push(ice_servers[0].credential.clone());
    }
    assert_ne!(handed[0], handed[1], "one credential per connection");
}

#[test]
fn second_hello_is_answered_like_the_first() {
    let mut h = Harness::new();
    let c = h.greeted(1);
    let (id, outs) = h.request(c, hello_body(PROTOCOL_VERSION));
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0], ok_reply(c, id));
    assert!(matches!(
        &outs[1],
        Output::Send { to, msg: ServerMessage::Welcome { .. } } if *to == c
    ));
}

#[test]
fn wrong_version_is_unsupported_and_leaves_the_connection_ungreeted() {
    let mut h = Harness::new();
    let c = h.connect(1);
    for version in [0, PROTOCOL_VERSION + 1, u32::MAX] {
        let (id, outs) = h.request(c, hello_body(version));
        assert_only_error(&outs, c, Some(id), ErrorCode::UnsupportedVersion);
    }
    let (id, outs) = h.request(c, json!({ "type": "ping" }));
    assert_only_error(&outs, c, Some(id), ErrorCode::HelloRequired);
    // The right version still works afterwards.
    let (id, outs) = h.request(c, hello_body(PROTOCOL_VERSION));
    assert_eq!(outs[0], ok_reply(c, id));
    assert_eq!(outs.len(), 2);
}

#[test]
fn any_request_before_hello_is_hello_required() {
    let mut h = Harness::new();
    // Someone already in the room must not hear about the un-greeted connection.
    let (_ada, ada_id) = h.joined(1, "standup", "Ada");
    let c = h.connect(2);
    let requests = [
        json!({ "type": "ping" }),
        json!({ "type": "join", "room": "standup", "name": "Mallory" }),
        json!({ "type": "answer", "sdp": "v=0" }),
        json!({ "type": "set_media", "audio_muted": true }),
        json!({ "type": "set_talking", "talking": true }),
        json!({ "type": "start_screen_share" }),
        json!({ "type": "stop_screen_share" }),
        json!({ "type": "chat", "text": "hi" }),
        json!({ "type": "kick", "member_id": ada_id.0 }),
        json!({ "type": "leave" }),
    ];
    for request in requests {
        let (id, outs) = h.request(c, request.clone());
        assert_only_error(&outs, c, Some(id), ErrorCode::HelloRequired);
    }
    assert_eq!(h.rooms.member_id(c), None);
    // The join before hello did not half-join: after hello a join works.
    let (id, outs) = h.request(c, hello_body(PROTOCOL_VERSION));
    assert_eq!(outs[0], ok_reply(c, id));
    let (id, outs) = h.request(
        c,
        json!({ "type": "join", "room": "standup", "name": "Mallory" }),
    );
    match joined_reply(&outs, c, id) {
        ReplyBody::Joined { members, .. } => assert_eq!(members.len(), 2),
        _ => unreachable!(),
    }
}

#[test]
fn room_requests_before_join_are_not_joined_and_ping_works() {
    let mut h = Harness::new();
    let c = h.greeted(1);
    let requests = [
        json!({ "type": "answer", "sdp": "v=0" }),
        json!({ "type": "set_media", "audio_muted": true }),
        json!({ "type": "set_talking", "talking": true }),
        json!({ "type": "start_screen_share" }),
        json!({ "type": "stop_screen_share" }),
        json!({ "type": "chat", "text": "hi" }),
        json!({ "type": "kick", "member_id": "m1" }),
        json!({ "type": "leave" }),
    ];
    for request in requests {
        let (id, outs) = h.request(c, request);
        assert_only_error(&outs, c, Some(id), ErrorCode::NotJoined);
    }
    let (id, outs) = h.request(c, json!({ "type": "ping" }));
    assert_eq!(
        outs,
        vec![Output::Send {
            to: c,
            msg: ServerMessage::Reply {
                id,
                body: ReplyBody::Pong {}
            }
        }]
    );
}

#[test]
fn frames_from_unknown_connections_are_ignored() {
    let mut h = Harness::new();
    assert!(h.frame(ConnId(42), &hello_body(1).to_string()).is_empty());
    assert!(h.rooms.disconnect(ConnId(42), h.now).is_empty());
}

// ------------------------------------------------------------------- join

#[test]
fn first_member_is_moderator_second_is_participant() {
    let mut h = Harness::new();
    let ada = h.greeted(1);
    let (id, outs) = h.request(
        ada,
        json!({ "type": "join", "room": "standup", "name": "Ada" }),
    );
    let ada_id = match joined_reply(&outs, ada, id) {
        ReplyBody::Joined {
            room,
            member_id,
            role,
            members,
            ..
        } => {
            assert_eq!(room, "standup");
            assert_eq!(*role, Role::Moderator);
            assert_eq!(*members, vec![member(member_id, "Ada", Role::Moderator)]);
            member_id.clone()
        }
        _ => unreachable!(),
    };
    assert_eq!(
        outs[1..],
        [Output::Media(MediaAction::Open {
            member: ada,
            peers: vec![]
        })]
    );

    let grace = h.greeted(2);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "standup", "name": "Grace" }),
    );
    let (grace_id, members) = match joined_reply(&outs, grace, id) {
        ReplyBody::Joined {
            room,
            member_id,
            role,
            members,
            ..
        } => {
            assert_eq!(room, "standup");
            assert_eq!(*role, Role::Participant);
            (member_id.clone(), members.clone())
        }
        _ => unreachable!(),
    };
    assert_ne!(grace_id, ada_id);
    let expected = vec![
        member(&ada_id, "Ada", Role::Moderator),
        member(&grace_id, "Grace", Role::Participant),
    ];
    assert_eq!(members, expected);
    // Ada hears about Grace; Grace gets nothing but her reply.
    assert_eq!(
        events_to(&outs, ada),
        vec![
            Event::MemberJoined {
                member: member(&grace_id, "Grace", Role::Participant)
            },
            Event::MemberListUpdated { members: expected },
        ]
    );
    assert_eq!(messages_to(&outs, grace).len(), 1);
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: grace,
            peers: vec![ada]
        }]
    );
    assert!(closes(&outs).is_empty());
    assert_eq!(h.rooms.peers_of(ada), vec![grace]);
    assert_eq!(h.rooms.peers_of(grace), vec![ada]);
    assert_eq!(h.rooms.member_id(grace), Some(grace_id));
}

#[test]
fn third_joiner_opens_with_all_peers_and_everyone_else_hears() {
    let mut h = Harness::new();
    let a = h.joined(1, "r", "Ada");
    let g = h.joined(2, "r", "Grace");
    let c = h.greeted(3);
    let (id, outs) = h.request(c, json!({ "type": "join", "room": "r", "name": "Linus" }));
    let linus_id = match joined_reply(&outs, c, id) {
        ReplyBody::Joined {
            member_id, members, ..
        } => {
            assert_eq!(
                members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
                ["Ada", "Grace", "Linus"],
                "oldest member first"
            );
            member_id.clone()
        }
        _ => unreachable!(),
    };
    for other in [a.0, g.0] {
        let events = events_to(&outs, other);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            Event::MemberJoined {
                member: member(&linus_id, "Linus", Role::Participant)
            }
        );
        assert!(matches!(&events[1], Event::MemberListUpdated { members } if members.len() == 3));
    }
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: c,
            peers: vec![a.0, g.0]
        }]
    );
    assert_eq!(h.rooms.peers_of(c), vec![a.0, g.0]);
}

#[test]
fn joining_muted_is_shown_and_gates_media() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let grace = h.greeted(2);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace", "audio_muted": true, "video_muted": true }),
    );
    let grace_id = match joined_reply(&outs, grace, id) {
        ReplyBody::Joined {
            member_id, members, ..
        } => {
            assert!(members[1].audio_muted && members[1].video_muted);
            member_id.clone()
        }
        _ => unreachable!(),
    };
    assert_eq!(
        media(&outs),
        vec![
            &MediaAction::Open {
                member: grace,
                peers: vec![ada]
            },
            &MediaAction::Gate {
                member: grace,
                kind: TrackKind::Microphone,
                open: false
            },
            &MediaAction::Gate {
                member: grace,
                kind: TrackKind::Camera,
                open: false
            },
        ]
    );
    let mut expected = member(&grace_id, "Grace", Role::Participant);
    expected.audio_muted = true;
    expected.video_muted = true;
    assert_eq!(
        events_to(&outs, ada)[0],
        Event::MemberJoined { member: expected }
    );
    assert!(!h.rooms.is_open(grace, TrackKind::Microphone));
    assert!(!h.rooms.is_open(grace, TrackKind::Camera));
    assert!(!h.rooms.is_open(grace, TrackKind::Screen));
    assert!(h.rooms.is_open(ada, TrackKind::Microphone));
    assert!(h.rooms.is_open(ada, TrackKind::Camera));

    // Only the muted kind is gated.
    let linus = h.greeted(3);
    let (_, outs) = h.request(
        linus,
        json!({ "type": "join", "room": "r", "name": "Linus", "video_muted": true }),
    );
    assert_eq!(
        media(&outs)[1..],
        [&MediaAction::Gate {
            member: linus,
            kind: TrackKind::Camera,
            open: false
        }]
    );
}

#[test]
fn a_member_that_receives_no_media_is_subscribed_to_nobody_but_still_publishes() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let load =
        |name: &str| json!({ "type": "join", "room": "r", "name": name, "receive_media": false });
    let (bot1, _) = h.joined_with(2, load("Bot 1"));
    let bot2 = h.greeted(3);
    let (_, outs) = h.request(bot2, load("Bot 2"));
    // Subscribed to no one's tracks, though two members publish.
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: bot2,
            peers: vec![]
        }]
    );
    // Its tracks go to the members that receive: Ada, not the other bot.
    assert_eq!(h.rooms.media_receivers_of(bot2), vec![ada]);
    assert_eq!(h.rooms.media_receivers_of(ada), Vec::<ConnId>::new());
    // It is still in the room for everything else.
    assert_eq!(h.rooms.peers_of(bot2), vec![ada, bot1]);
    // A member that receives (the default) is subscribed to everyone.
    let grace = h.greeted(4);
    let (_, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
    );
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: grace,
            peers: vec![ada, bot1, bot2]
        }]
    );
    // A screen share and a leave touch only the receiving members' subscriptions.
    let (_, outs) = h.request(bot1, json!({ "type": "start_screen_share" }));
    assert_eq!(
        media(&outs),
        vec![&MediaAction::StartScreen {
            member: bot1,
            peers: vec![ada, grace]
        }]
    );
    let (_, outs) = h.request(bot1, json!({ "type": "leave" }));
    assert_eq!(
        media(&outs)[0],
        &MediaAction::Close {
            member: bot1,
            peers: vec![ada, grace]
        }
    );
}

#[test]
fn moderator_secret_of_the_first_joiner_makes_later_holders_moderators() {
    let mut h = Harness::new();
    let join = |name: &str, secret: Value| json!({ "type": "join", "room": "r", "name": name, "moderator_secret": secret });
    let role_of = |h: &mut Harness, n: u64, body: Value| {
        let c = h.greeted(n);
        let (id, outs) = h.request(c, body);
        match joined_reply(&outs, c, id) {
            ReplyBody::Joined { role, .. } => *role,
            _ => unreachable!(),
        }
    };
    assert_eq!(
        role_of(&mut h, 1, join("Ada", json!("s3cret"))),
        Role::Moderator
    );
    assert_eq!(
        role_of(&mut h, 2, join("Grace", json!("s3cret"))),
        Role::Moderator
    );
    assert_eq!(
        role_of(&mut h, 3, join("Linus", json!("wrong"))),
        Role::Participant
    );
    assert_eq!(
        role_of(&mut h, 4, join("Ken", json!("S3CRET"))),
        Role::Participant
    );
    assert_eq!(
        role_of(&mut h, 5, join("Dennis", json!(null))),
        Role::Participant
    );
    assert_eq!(
        role_of(
            &mut h,
            6,
            json!({ "type": "join", "room": "r", "name": "Bjarne" })
        ),
        Role::Participant
    );
    // An empty secret is no secret: refused, not a way to become moderator.
    let barbara = h.greeted(7);
    let (id, outs) = h.request(barbara, join("Barbara", json!("")));
    assert_only_error(&outs, barbara, Some(id), ErrorCode::InvalidMessage);

    // A room created without a secret has none: a later secret does nothing.
    let open = |name: &str, secret: Value| json!({ "type": "join", "room": "open", "name": name, "moderator_secret": secret });
    assert_eq!(
        role_of(&mut h, 10, open("Ada", json!(null))),
        Role::Moderator
    );
    assert_eq!(
        role_of(&mut h, 11, open("Grace", json!("s3cret"))),
        Role::Participant
    );
    let linus = h.greeted(12);
    let (id, outs) = h.request(linus, open("Linus", json!("  ")));
    assert_only_error(&outs, linus, Some(id), ErrorCode::InvalidMessage);

    // A later joiner's secret does not replace the room's.
    assert_eq!(
        role_of(&mut h, 13, join("Margaret", json!("other"))),
        Role::Participant
    );
    assert_eq!(
        role_of(&mut h, 14, join("Frances", json!("s3cret"))),
        Role::Moderator
    );
}

#[test]
fn a_secret_holder_can_kick_like_the_first_moderator() {
    let mut h = Harness::new();
    let (_ada, _) = h.joined_with(
        1,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s" }),
    );
    let (grace, _) = h.joined_with(
        2,
        json!({ "type": "join", "room": "r", "name": "Grace", "moderator_secret": "s" }),
    );
    let (linus, linus_id) = h.joined(3, "r", "Linus");
    let (id, outs) = h.request(grace, json!({ "type": "kick", "member_id": linus_id }));
    assert_eq!(outs[0], ok_reply(grace, id));
    assert_eq!(closes(&outs), vec![linus]);
}

#[test]
fn names_are_trimmed_and_rooms_match_after_trimming() {
    let mut h = Harness::new();
    let ada = h.greeted(1);
    let (id, outs) = h.request(
        ada,
        json!({ "type": "join", "room": "  standup\t", "name": "\n Ada  " }),
    );
    match joined_reply(&outs, ada, id) {
        ReplyBody::Joined { room, members, .. } => {
            assert_eq!(room, "standup");
            assert_eq!(members[0].name, "Ada");
        }
        _ => unreachable!(),
    }
    let grace = h.greeted(2);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "standup", "name": "Grace" }),
    );
    match joined_reply(&outs, grace, id) {
        ReplyBody::Joined { role, members, .. } => {
            assert_eq!(*role, Role::Participant);
            assert_eq!(members.len(), 2);
        }
        _ => unreachable!(),
    }
    // Room names that look alike are one room: case, a zero-width space,
    // a Cyrillic "ѕ" for the Latin "s". The room keeps its first name.
    for (n, look_alike) in ["Standup", "standup\u{200B}", "\u{455}tandup"]
        .iter()
        .enumerate()
    {
        let member = h.greeted(3 + n as u64);
        let (id, outs) = h.request(
            member,
            json!({ "type": "join", "room": look_alike, "name": format!("Linus {n}") }),
        );
        match joined_reply(&outs, member, id) {
            ReplyBody::Joined {
                room,
                role,
                members,
                ..
            } => {
                assert_eq!(room, "standup");
                assert_eq!(*role, Role::Participant);
                assert_eq!(members.len(), 3 + n);
            }
            _ => unreachable!(),
        }
    }
    let other = h.greeted(9);
    let (id, outs) = h.request(
        other,
        json!({ "type": "join", "room": "standup 2", "name": "Ken" }),
    );
    match joined_reply(&outs, other, id) {
        ReplyBody::Joined { role, .. } => assert_eq!(*role, Role::Moderator, "another room"),
        _ => unreachable!(),
    }
}

#[test]
fn a_name_that_looks_like_one_in_the_room_gets_a_suffix() {
    let mut h = Harness::new();
    for (n, (name, expected)) in [
        ("alice", "alice"),
        ("\u{430}lice", "\u{430}lice (2)"),
        ("Alice", "Alice (3)"),
        ("Bob", "Bob"),
    ]
    .into_iter()
    .enumerate()
    {
        let conn = h.greeted(1 + n as u64);
        let (id, outs) = h.request(conn, json!({ "type": "join", "room": "r", "name": name }));
        match joined_reply(&outs, conn, id) {
            ReplyBody::Joined { members, .. } => {
                assert_eq!(members.last().unwrap().name, expected)
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn invalid_names_are_refused() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let c = h.greeted(2);
    let max = Limits::default().max_name_chars;
    assert_eq!(max, 64);
    let bad = [
        String::new(),
        " ".into(),
        "   \t \n ".into(),
        "\u{3000}\u{2003}".into(), // only Unicode whitespace
        "x".repeat(max + 1),
        "é".repeat(max + 1),  // 65 chars, 130 bytes
        "😀".repeat(max + 1), // 65 chars, 260 bytes
        format!("{}é", "a".repeat(max)),
        "Ada\u{7}".into(),
        "A\nB".into(),
        "A\tB".into(),
        "A\rB".into(),
        "\u{0}".into(),
        "A\u{0}B".into(),
        "A\u{1b}[31mB".into(),
        "A\u{7f}".into(),
        "A\u{85}B".into(), // C1 control in the middle (trim would drop it at the ends)
        "A\u{9f}B".into(),
    ];
    for name in &bad {
        let (id, outs) = h.request(c, json!({ "type": "join", "room": "r", "name": name }));
        assert_only_error(&outs, c, Some(id), ErrorCode::InvalidName);
        // The room name gets the same checks.
        let (id, outs) = h.request(c, json!({ "type": "join", "room": name, "name": "Grace" }));
        assert_only_error(&outs, c, Some(id), ErrorCode::InvalidName);
    }
    assert_eq!(h.rooms.member_id(c), None);
    assert_eq!(h.rooms.peers_of(ada), Vec::<ConnId>::new());

    // Exactly max_name_chars characters, however many bytes, is fine.
    for (n, name) in [
        (3, "é".repeat(max)),
        (4, "😀".repeat(max)),
        (5, format!("  {}  ", "x".repeat(max))),
    ] {
        let conn = h.greeted(n);
        let (id, outs) = h.request(conn, json!({ "type": "join", "room": "r", "name": name }));
        match joined_reply(&outs, conn, id) {
            ReplyBody::Joined {
                member_id, members, ..
            } => {
                let me = members.iter().find(|m| m.id == *member_id).unwrap();
                assert_eq!(me.name, name.trim());
            }
            _ => unreachable!(),
        }
    }
    let (_, outs) = h.request(
        c,
        json!({ "type": "join", "room": "é".repeat(max), "name": "Grace" }),
    );
    assert!(matches!(
        &outs[0],
        Output::Send {
            msg: ServerMessage::Reply {
                body: ReplyBody::Joined { .. },
                ..
            },
            ..
        }
    ));
}

#[test]
fn join_twice_is_already_joined() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, _) = h.joined(2, "r", "Grace");
    for room in ["r", "elsewhere"] {
        let (id, outs) = h.request(
            grace,
            json!({ "type": "join", "room": room, "name": "Grace" }),
        );
        assert_only_error(&outs, grace, Some(id), ErrorCode::AlreadyJoined);
    }
    // An invalid name on a second join is still already_joined: state is checked first.
    let (id, outs) = h.request(grace, json!({ "type": "join", "room": "r", "name": "" }));
    assert_only_error(&outs, grace, Some(id), ErrorCode::AlreadyJoined);
    assert_eq!(h.rooms.peers_of(ada), vec![grace]);
    let (_, linus_id) = h.joined(3, "r", "Linus");
    let (_, outs) = h.request(grace, chat_body("still here"));
    assert_eq!(events_to(&outs, ada).len(), 1);
    let _ = linus_id;
    // "elsewhere" was never created: joining it makes a moderator.
    let (ken, _) = h.joined(4, "elsewhere", "Ken");
    let (_, outs) = h.request(ken, json!({ "type": "kick", "member_id": "nobody" }));
    assert_eq!(
        outs.len(),
        1,
        "Ken is the moderator of a fresh room, so only member_not_found"
    );
    assert!(matches!(
        &outs[0],
        Output::Send { msg: ServerMessage::Error { error, .. }, .. } if error.code == ErrorCode::MemberNotFound
    ));
}

#[test]
fn room_full_is_refused_without_corrupting_the_room() {
    let limits = Limits {
        max_members_per_room: 2,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    let (ada, ada_id) = h.joined(1, "r", "Ada");
    let (grace, grace_id) = h.joined(2, "r", "Grace");
    let linus = h.greeted(3);
    for _ in 0..2 {
        let (id, outs) = h.request(
            linus,
            json!({ "type": "join", "room": "r", "name": "Linus" }),
        );
        assert_only_error(&outs, linus, Some(id), ErrorCode::RoomFull);
    }
    assert_eq!(h.rooms.member_id(linus), None);
    assert_eq!(h.rooms.peers_of(ada), vec![grace]);

    // The two members still talk to each other, and Linus hears nothing.
    let (id, outs) = h.request(grace, chat_body("anyone there?"));
    assert_eq!(outs[0], ok_reply(grace, id));
    assert_eq!(
        events_to(&outs, ada),
        vec![chat_message(&grace_id, "Grace", "anyone there?")]
    );
    assert_eq!(
        events_to(&outs, grace),
        vec![chat_message(&grace_id, "Grace", "anyone there?")]
    );
    assert!(messages_to(&outs, linus).is_empty());
    let (_, outs) = h.request(ada, json!({ "type": "set_talking", "talking": true }));
    assert_eq!(
        events_to(&outs, grace),
        vec![Event::MemberTalking {
            member_id: ada_id.clone(),
            talking: true
        }]
    );

    // Linus can still go elsewhere, or come back once there is room.
    let (id, outs) = h.request(
        linus,
        json!({ "type": "join", "room": "other", "name": "Linus" }),
    );
    joined_reply(&outs, linus, id);
    let (_, outs) = h.request(linus, json!({ "type": "leave" }));
    assert!(events_to(&outs, ada).is_empty());

    let (_, outs) = h.request(grace, json!({ "type": "leave" }));
    assert_eq!(
        events_to(&outs, ada)[0],
        Event::MemberLeft {
            member_id: grace_id,
            name: "Grace".into(),
            reason: LeaveReason::Left
        }
    );
    let (id, outs) = h.request(
        linus,
        json!({ "type": "join", "room": "r", "name": "Linus" }),
    );
    let linus_id = match joined_reply(&outs, linus, id) {
        ReplyBody::Joined {
            member_id,
            role,
            members,
            ..
        } => {
            assert_eq!(*role, Role::Participant);
            let mut ada_now = member(&ada_id, "Ada", Role::Moderator);
            ada_now.talking = true;
            assert_eq!(
                *members,
                vec![ada_now, member(member_id, "Linus", Role::Participant)]
            );
            member_id.clone()
        }
        _ => unreachable!(),
    };
    assert_eq!(
        events_to(&outs, ada)[0],
        Event::MemberJoined {
            member: member(&linus_id, "Linus", Role::Participant)
        }
    );
    // And it is full again.
    let ken = h.greeted(4);
    let (id, outs) = h.request(ken, json!({ "type": "join", "room": "r", "name": "Ken" }));
    assert_only_error(&outs, ken, Some(id), ErrorCode::RoomFull);
}

#[test]
fn a_room_of_size_zero_refuses_everyone_and_leaves_nothing_behind() {
    let limits = Limits {
        max_members_per_room: 0,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    let c = h.greeted(1);
    let (id, outs) = h.request(c, json!({ "type": "join", "room": "r", "name": "Ada" }));
    assert_only_error(&outs, c, Some(id), ErrorCode::RoomFull);
    assert!(h.rooms.rooms.is_empty(), "no empty room is left behind");
}

// -------------------------------------------------------------- set_media

#[test]
fn set_media_tells_the_others_what_changed_and_gates_media() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(grace.0, json!({ "type": "set_media", "audio_muted": true }));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    let mut state = member(&grace.1, "Grace", Role::Participant);
    state.audio_muted = true;
    let expected = vec![Event::MemberUpdated {
        member: state.clone(),
        updated: vec![MemberField::AudioMuted],
    }];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert_eq!(messages_to(&outs, grace.0).len(), 1, "only the reply");
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Gate {
            member: grace.0,
            kind: TrackKind::Microphone,
            open: false
        }]
    );
    assert!(!h.rooms.is_open(grace.0, TrackKind::Microphone));
    assert!(h.rooms.is_open(grace.0, TrackKind::Camera));

    // Both at once.
    let (id, outs) = h.request(
        grace.0,
        json!({ "type": "set_media", "audio_muted": false, "video_muted": true }),
    );
    assert_eq!(outs[0], ok_reply(grace.0, id));
    state.audio_muted = false;
    state.video_muted = true;
    let expected = vec![Event::MemberUpdated {
        member: state.clone(),
        updated: vec![MemberField::AudioMuted, MemberField::VideoMuted],
    }];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert!(events_to(&outs, grace.0).is_empty());
    assert_eq!(
        media(&outs),
        vec![
            &MediaAction::Gate {
                member: grace.0,
                kind: TrackKind::Microphone,
                open: true
            },
            &MediaAction::Gate {
                member: grace.0,
                kind: TrackKind::Camera,
                open: false
            },
        ]
    );
    assert!(h.rooms.is_open(grace.0, TrackKind::Microphone));
    assert!(!h.rooms.is_open(grace.0, TrackKind::Camera));

    // Only the field that changed is listed, even if both are sent.
    let (_, outs) = h.request(
        grace.0,
        json!({ "type": "set_media", "audio_muted": false, "video_muted": false }),
    );
    state.video_muted = false;
    assert_eq!(
        events_to(&outs, ada.0),
        vec![Event::MemberUpdated {
            member: state.clone(),
            updated: vec![MemberField::VideoMuted],
        }]
    );
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Gate {
            member: grace.0,
            kind: TrackKind::Camera,
            open: true
        }]
    );

    // The new state shows in later member lists.
    let (_, outs) = h.request(grace.0, json!({ "type": "set_media", "video_muted": true }));
    assert_eq!(media(&outs).len(), 1);
    let c = h.greeted(5);
    let (id, outs) = h.request(
        c,
        json!({ "type": "join", "room": "standup", "name": "Dennis" }),
    );
    match joined_reply(&outs, c, id) {
        ReplyBody::Joined { members, .. } => {
            let g = members.iter().find(|m| m.id == grace.1).unwrap();
            assert!(g.video_muted && !g.audio_muted);
        }
        _ => unreachable!(),
    }
}

#[test]
fn set_media_without_a_change_sends_nothing_to_anyone() {
    let Trio { mut h, grace, .. } = trio();
    h.ok(grace.0, json!({ "type": "set_media" }));
    h.ok(
        grace.0,
        json!({ "type": "set_media", "audio_muted": null, "video_muted": null }),
    );
    h.ok(
        grace.0,
        json!({ "type": "set_media", "audio_muted": false }),
    );
    h.ok(
        grace.0,
        json!({ "type": "set_media", "audio_muted": false, "video_muted": false }),
    );
    // Mute, then mute again: the second is a no-op.
    let (_, outs) = h.request(grace.0, json!({ "type": "set_media", "video_muted": true }));
    assert_eq!(outs.len(), 1 + 2 + 1, "reply, two member.updated, one gate");
    h.ok(grace.0, json!({ "type": "set_media", "video_muted": true }));
    h.ok(
        grace.0,
        json!({ "type": "set_media", "video_muted": true, "audio_muted": false }),
    );
}

#[test]
fn set_media_from_a_member_joined_muted_is_a_no_op_when_unchanged() {
    let mut h = Harness::new();
    let (_ada, _) = h.joined(1, "r", "Ada");
    let (grace, _) = h.joined_with(
        2,
        json!({ "type": "join", "room": "r", "name": "Grace", "audio_muted": true }),
    );
    h.ok(grace, json!({ "type": "set_media", "audio_muted": true }));
    let (_, outs) = h.request(grace, json!({ "type": "set_media", "audio_muted": false }));
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Gate {
            member: grace,
            kind: TrackKind::Microphone,
            open: true
        }]
    );
}

// ------------------------------------------------------------ set_talking

#[test]
fn set_talking_tells_the_others_when_it_changes() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(ada.0, json!({ "type": "set_talking", "talking": true }));
    assert_eq!(outs[0], ok_reply(ada.0, id));
    let expected = vec![Event::MemberTalking {
        member_id: ada.1.clone(),
        talking: true,
    }];
    assert_eq!(events_to(&outs, grace.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert_eq!(messages_to(&outs, ada.0).len(), 1);
    assert!(media(&outs).is_empty());
    assert_eq!(outs.len(), 3);

    // Same state again: nothing.
    h.ok(ada.0, json!({ "type": "set_talking", "talking": true }));

    let (_, outs) = h.request(ada.0, json!({ "type": "set_talking", "talking": false }));
    let expected = vec![Event::MemberTalking {
        member_id: ada.1.clone(),
        talking: false,
    }];
    assert_eq!(events_to(&outs, grace.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert!(events_to(&outs, ada.0).is_empty());
    h.ok(ada.0, json!({ "type": "set_talking", "talking": false }));
}

// ----------------------------------------------------------- screen share

#[test]
fn screen_share_start_and_stop() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(grace.0, json!({ "type": "start_screen_share" }));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    let mut state = member(&grace.1, "Grace", Role::Participant);
    state.screen_sharing = true;
    let expected = vec![
        Event::MemberUpdated {
            member: state.clone(),
            updated: vec![MemberField::ScreenSharing],
        },
        Event::ScreenShareStarted {
            member_id: grace.1.clone(),
        },
    ];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert_eq!(messages_to(&outs, grace.0).len(), 1);
    assert_eq!(
        media(&outs),
        vec![&MediaAction::StartScreen {
            member: grace.0,
            peers: vec![ada.0, linus.0]
        }]
    );
    assert!(h.rooms.is_open(grace.0, TrackKind::Screen));

    let (id, outs) = h.request(grace.0, json!({ "type": "stop_screen_share" }));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    state.screen_sharing = false;
    let expected = vec![
        Event::MemberUpdated {
            member: state,
            updated: vec![MemberField::ScreenSharing],
        },
        Event::ScreenShareEnded {
            member_id: grace.1.clone(),
        },
    ];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert_eq!(messages_to(&outs, grace.0).len(), 1);
    assert_eq!(
        media(&outs),
        vec![&MediaAction::StopScreen {
            member: grace.0,
            peers: vec![ada.0, linus.0]
        }]
    );
    assert!(!h.rooms.is_open(grace.0, TrackKind::Screen));

    // It can be started again.
    let (id, outs) = h.request(grace.0, json!({ "type": "start_screen_share" }));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    assert_eq!(media(&outs).len(), 1);
}

#[test]
fn screen_share_in_the_wrong_state_is_invalid_state() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    let (id, outs) = h.request(grace.0, json!({ "type": "stop_screen_share" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidState);
    h.request(grace.0, json!({ "type": "start_screen_share" }));
    let (id, outs) = h.request(grace.0, json!({ "type": "start_screen_share" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidState);
    assert!(h.rooms.is_open(grace.0, TrackKind::Screen), "still sharing");
    h.request(grace.0, json!({ "type": "stop_screen_share" }));
    let (id, outs) = h.request(grace.0, json!({ "type": "stop_screen_share" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidState);
    // Another member's share is its own.
    let (id, outs) = h.request(ada.0, json!({ "type": "stop_screen_share" }));
    assert_only_error(&outs, ada.0, Some(id), ErrorCode::InvalidState);
}

// ------------------------------------------------------------------- chat

#[test]
fn chat_reaches_everyone_including_the_sender_and_no_other_room() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (ken, _) = h.joined(4, "elsewhere", "Ken");
    let (id, outs) = h.request(grace.0, chat_body("Morning all!"));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    let expected = vec![chat_message(&grace.1, "Grace", "Morning all!")];
    for conn in [ada.0, grace.0, linus.0] {
        assert_eq!(events_to(&outs, conn), expected, "to {conn:?}");
    }
    assert!(messages_to(&outs, ken).is_empty());
    assert_eq!(outs.len(), 4);
    assert!(media(&outs).is_empty());
    // Text is passed through as is (not trimmed), unicode included.
    let (_, outs) = h.request(ada.0, chat_body("  ¡hola! 😀 "));
    assert_eq!(
        events_to(&outs, linus.0),
        vec![chat_message(&ada.1, "Ada", "  ¡hola! 😀 ")]
    );
}

#[test]
fn chat_is_stamped_with_the_wall_clock_it_arrived_at() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    let (_, outs) = h.request(grace.0, chat_body("on time"));
    let stamped = |outs: &[Output]| -> Vec<u64> {
        messages_to(outs, ada.0)
            .into_iter()
            .filter_map(|msg| match msg {
                ServerMessage::Event {
                    event:
                        Event::ChatMessage { sent_at_ms, .. }
                        | Event::ChatWhisper { sent_at_ms, .. },
                    ..
                } => Some(*sent_at_ms),
                _ => None,
            })
            .collect()
    };
    assert_eq!(stamped(&outs), vec![h.unix_ms]);
    let whisper = json!({ "type": "chat", "text": "psst", "to": ada.1 });
    let (_, outs) = h.request(grace.0, whisper);
    assert_eq!(stamped(&outs), vec![h.unix_ms]);
    // The wall clock is an input: stepping it back (an NTP correction) is
    // reported as given, not read from this machine.
    let body = json!({ "type": "chat", "text": "earlier", "id": 1 });
    let outs = h.rooms.handle_frame(grace.0, &body.to_string(), h.now, 42);
    assert_eq!(stamped(&outs), vec![42]);
}

#[test]
fn whisper_reaches_only_the_target_and_the_sender() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(
        grace.0,
        json!({ "type": "chat", "text": "psst", "to": ada.1 }),
    );
    assert_eq!(outs[0], ok_reply(grace.0, id));
    let expected = vec![whisper(&grace.1, "Grace", &ada.1, "psst")];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, grace.0), expected);
    assert!(messages_to(&outs, linus.0).is_empty(), "Linus gets NOTHING");
    assert_eq!(outs.len(), 3);

    // With `from` set to the sender's own id.
    let (id, outs) = h.request(
        linus.0,
        json!({ "type": "chat", "text": "hi Grace", "to": grace.1, "from": linus.1 }),
    );
    assert_eq!(outs[0], ok_reply(linus.0, id));
    let expected = vec![whisper(&linus.1, "Linus", &grace.1, "hi Grace")];
    assert_eq!(events_to(&outs, grace.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert!(messages_to(&outs, ada.0).is_empty());

    // To oneself: one copy.
    let (id, outs) = h.request(
        ada.0,
        json!({ "type": "chat", "text": "note", "to": ada.1 }),
    );
    assert_eq!(outs[0], ok_reply(ada.0, id));
    assert_eq!(
        events_to(&outs, ada.0),
        vec![whisper(&ada.1, "Ada", &ada.1, "note")]
    );
    assert_eq!(outs.len(), 2);
}

#[test]
fn whisper_to_an_unknown_member_is_member_not_found() {
    let Trio { mut h, grace, .. } = trio();
    let (_, ken_id) = h.joined(4, "elsewhere", "Ken");
    for to in [json!("m999"), json!(""), json!(ken_id)] {
        let (id, outs) = h.request(grace.0, json!({ "type": "chat", "text": "psst", "to": to }));
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::MemberNotFound);
    }
}

#[test]
fn spoofed_from_is_refused_and_nobody_receives_anything() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (_, ken_id) = h.joined(4, "elsewhere", "Ken");
    let cases = [
        json!({ "type": "chat", "text": "I am Ada", "from": ada.1 }),
        json!({ "type": "chat", "text": "I am Ada", "from": ada.1, "to": linus.1 }),
        json!({ "type": "chat", "text": "I am Ken", "from": ken_id }),
        json!({ "type": "chat", "text": "nobody", "from": "m999" }),
        json!({ "type": "chat", "text": "nobody", "from": "" }),
        // Spoofing is checked before size and emptiness.
        json!({ "type": "chat", "text": "x".repeat(5000), "from": ada.1 }),
        json!({ "type": "chat", "text": "", "from": ada.1 }),
        json!({ "type": "chat", "text": "hi", "from": ada.1, "to": "m999" }),
    ];
    for case in cases {
        let (id, outs) = h.request(grace.0, case.clone());
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::SpoofedSender);
    }
    // From equal to one's own id is fine.
    let (id, outs) = h.request(
        grace.0,
        json!({ "type": "chat", "text": "really me", "from": grace.1 }),
    );
    assert_eq!(outs[0], ok_reply(grace.0, id));
    let expected = vec![chat_message(&grace.1, "Grace", "really me")];
    for conn in [ada.0, grace.0, linus.0] {
        assert_eq!(events_to(&outs, conn), expected);
    }
    // An explicit null is the same as no `from`.
    let (id, outs) = h.request(
        grace.0,
        json!({ "type": "chat", "text": "null from", "from": null }),
    );
    assert_eq!(outs[0], ok_reply(grace.0, id));
    assert_eq!(outs.len(), 4);
}

#[test]
fn chat_text_limits() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let max = Limits::default().max_chat_bytes;
    assert_eq!(max, 4096);
    // Bytes, not characters.
    for text in [
        "x".repeat(max + 1),
        "é".repeat(max / 2 + 1), // 2049 chars, 4098 bytes
        "😀".repeat(max / 4 + 1),
        " ".repeat(max + 1), // too_large is checked before emptiness
    ] {
        let (id, outs) = h.request(grace.0, chat_body(&text));
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::TooLarge);
        // Also as a whisper.
        let (id, outs) = h.request(
            grace.0,
            json!({ "type": "chat", "text": text, "to": ada.1 }),
        );
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::TooLarge);
    }
    for text in ["", " ", "\n\t  \r\n", "\u{3000}"] {
        let (id, outs) = h.request(grace.0, chat_body(text));
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidMessage);
    }
    // Emptiness is checked before the target.
    let (id, outs) = h.request(grace.0, json!({ "type": "chat", "text": "", "to": "m999" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidMessage);

    // Exactly at the limit is fine.
    for text in ["x".repeat(max), "é".repeat(max / 2), "😀".repeat(max / 4)] {
        let (id, outs) = h.request(grace.0, chat_body(&text));
        assert_eq!(outs[0], ok_reply(grace.0, id));
        assert_eq!(
            events_to(&outs, linus.0),
            vec![chat_message(&grace.1, "Grace", &text)]
        );
    }
}

// ------------------------------------------------------------------- kick

#[test]
fn moderator_kick_removes_the_target() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (ken, _) = h.joined(4, "elsewhere", "Ken");
    let (id, outs) = h.request(
        ada.0,
        json!({ "type": "kick", "member_id": grace.1, "reason": "test" }),
    );
    assert_eq!(outs[0], ok_reply(ada.0, id));
    assert_eq!(
        events_to(&outs, grace.0),
        vec![
            Event::RoomKicked {
                room: "standup".into(),
                by: ada.1.clone(),
                by_name: "Ada".into(),
                reason: Some("test".into()),
            },
            Event::RoomLeft {
                room: "standup".into(),
                reason: LeaveReason::Kicked,
            },
        ]
    );
    assert_eq!(messages_to(&outs, grace.0).len(), 2);
    // The close comes after everything sent to the target.
    assert_eq!(closes(&outs), vec![grace.0]);
    let close_at = outs
        .iter()
        .position(|o| matches!(o, Output::Close { .. }))
        .unwrap();
    let last_to_grace = outs
        .iter()
        .rposition(|o| matches!(o, Output::Send { to, .. } if *to == grace.0))
        .unwrap();
    assert!(close_at > last_to_grace);

    let expected = vec![
        Event::MemberLeft {
            member_id: grace.1.clone(),
            name: "Grace".into(),
            reason: LeaveReason::Kicked,
        },
        Event::MemberListUpdated {
            members: vec![
                member(&ada.1, "Ada", Role::Moderator),
                member(&linus.1, "Linus", Role::Participant),
            ],
        },
    ];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert!(messages_to(&outs, ken).is_empty());
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Close {
            member: grace.0,
            peers: vec![ada.0, linus.0]
        }]
    );

    // Grace is out of the room; the others carry on without her.
    assert_eq!(h.rooms.member_id(grace.0), None);
    assert_eq!(h.rooms.peers_of(ada.0), vec![linus.0]);
    let (_, outs) = h.request(ada.0, chat_body("where were we"));
    assert!(messages_to(&outs, grace.0).is_empty());
    assert_eq!(events_to(&outs, linus.0).len(), 1);
    // A second kick of the same member finds nobody.
    let (id, outs) = h.request(ada.0, json!({ "type": "kick", "member_id": grace.1 }));
    assert_only_error(&outs, ada.0, Some(id), ErrorCode::MemberNotFound);
    // The transport then reports the disconnect: nothing more to tell anyone.
    assert!(h.rooms.disconnect(grace.0, h.now).is_empty());
}

#[test]
fn kicking_a_sharer_ends_its_share_for_the_others() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    h.request(grace.0, json!({ "type": "start_screen_share" }));
    let (_, outs) = h.request(ada.0, json!({ "type": "kick", "member_id": grace.1 }));
    for conn in [ada.0, linus.0] {
        let events = events_to(&outs, conn);
        assert_eq!(
            events[..2],
            [
                Event::ScreenShareEnded {
                    member_id: grace.1.clone()
                },
                Event::MemberLeft {
                    member_id: grace.1.clone(),
                    name: "Grace".into(),
                    reason: LeaveReason::Kicked,
                },
            ]
        );
        assert_eq!(events.len(), 3);
    }
    let (_, outs) = h.request(ada.0, json!({ "type": "kick", "member_id": linus.1 }));
    assert_eq!(
        events_to(&outs, ada.0)[0],
        Event::MemberLeft {
            member_id: linus.1.clone(),
            name: "Linus".into(),
            reason: LeaveReason::Kicked
        },
        "no screenShare.ended for a member that was not sharing"
    );
    assert_eq!(
        events_to(&outs, linus.0)[0],
        Event::RoomKicked {
            room: "standup".into(),
            by: ada.1.clone(),
            by_name: "Ada".into(),
            reason: None
        }
    );
}

#[test]
fn a_moderator_may_kick_itself() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(ada.0, json!({ "type": "kick", "member_id": ada.1 }));
    assert_eq!(outs[0], ok_reply(ada.0, id));
    assert_eq!(
        events_to(&outs, ada.0),
        vec![
            Event::RoomKicked {
                room: "standup".into(),
                by: ada.1.clone(),
                by_name: "Ada".into(),
                reason: None
            },
            Event::RoomLeft {
                room: "standup".into(),
                reason: LeaveReason::Kicked
            },
        ]
    );
    assert_eq!(closes(&outs), vec![ada.0]);
    for conn in [grace.0, linus.0] {
        assert!(matches!(
            &events_to(&outs, conn)[0],
            Event::MemberLeft { reason: LeaveReason::Kicked, member_id, .. } if *member_id == ada.1
        ));
    }
    assert_eq!(h.rooms.member_id(ada.0), None);
}

#[test]
fn a_participant_cannot_kick() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    for target in [&ada.1, &linus.1, &grace.1] {
        let (id, outs) = h.request(grace.0, json!({ "type": "kick", "member_id": target }));
        assert_only_error(&outs, grace.0, Some(id), ErrorCode::NotModerator);
    }
    // The role is checked first (commit 9347d0f), so a participant learns
    // nothing about who is in the room from a kick either.
    let (id, outs) = h.request(grace.0, json!({ "type": "kick", "member_id": "m999" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::NotModerator);

    // Nothing changed.
    assert_eq!(h.rooms.peers_of(grace.0), vec![ada.0, linus.0]);
    let (_, outs) = h.request(ada.0, chat_body("still here"));
    for conn in [ada.0, grace.0, linus.0] {
        assert_eq!(
            events_to(&outs, conn),
            vec![chat_message(&ada.1, "Ada", "still here")]
        );
    }
}

#[test]
fn kicking_a_member_of_another_room_is_member_not_found() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "a", "Ada");
    let (grace, _) = h.joined(2, "a", "Grace");
    let (ken, ken_id) = h.joined(3, "b", "Ken");
    let (dennis, dennis_id) = h.joined(4, "b", "Dennis");
    for target in [&ken_id, &dennis_id] {
        let (id, outs) = h.request(ada, json!({ "type": "kick", "member_id": target }));
        assert_only_error(&outs, ada, Some(id), ErrorCode::MemberNotFound);
    }
    // Dennis is untouched.
    assert_eq!(h.rooms.member_id(dennis), Some(dennis_id.clone()));
    assert_eq!(h.rooms.peers_of(ken), vec![dennis]);
    let (_, outs) = h.request(ken, chat_body("room b"));
    assert_eq!(
        events_to(&outs, dennis),
        vec![chat_message(&ken_id, "Ken", "room b")]
    );
    assert!(messages_to(&outs, ada).is_empty() && messages_to(&outs, grace).is_empty());
}

// ------------------------------------------------------------------ leave

#[test]
fn leave_tells_the_others_and_the_connection_can_join_again() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let (id, outs) = h.request(grace.0, json!({ "type": "leave" }));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    assert_eq!(
        events_to(&outs, grace.0),
        vec![Event::RoomLeft {
            room: "standup".into(),
            reason: LeaveReason::Left
        }]
    );
    let expected = vec![
        Event::MemberLeft {
            member_id: grace.1.clone(),
            name: "Grace".into(),
            reason: LeaveReason::Left,
        },
        Event::MemberListUpdated {
            members: vec![
                member(&ada.1, "Ada", Role::Moderator),
                member(&linus.1, "Linus", Role::Participant),
            ],
        },
    ];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, linus.0), expected);
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Close {
            member: grace.0,
            peers: vec![ada.0, linus.0]
        }]
    );
    assert!(closes(&outs).is_empty(), "the connection stays open");
    assert_eq!(h.rooms.member_id(grace.0), None);

    // Out of the room: room requests are not_joined, ping still works.
    let (id, outs) = h.request(grace.0, json!({ "type": "leave" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::NotJoined);
    let (id, outs) = h.request(grace.0, chat_body("hello?"));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::NotJoined);

    // Join again, with a new id, as a participant.
    let (id, outs) = h.request(
        grace.0,
        json!({ "type": "join", "room": "standup", "name": "Grace" }),
    );
    let new_id = match joined_reply(&outs, grace.0, id) {
        ReplyBody::Joined {
            member_id,
            role,
            members,
            ..
        } => {
            assert_eq!(*role, Role::Participant);
            assert_eq!(members.len(), 3);
            assert_eq!(members[2].id, *member_id, "newest last");
            member_id.clone()
        }
        _ => unreachable!(),
    };
    assert_ne!(new_id, grace.1);
    assert!(matches!(
        &events_to(&outs, ada.0)[0],
        Event::MemberJoined { member } if member.id == new_id
    ));
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: grace.0,
            peers: vec![ada.0, linus.0]
        }]
    );
}

#[test]
fn leaving_while_sharing_ends_the_share_first() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    h.request(grace.0, json!({ "type": "start_screen_share" }));
    let (_, outs) = h.request(grace.0, json!({ "type": "leave" }));
    let events = events_to(&outs, ada.0);
    assert_eq!(
        events[0],
        Event::ScreenShareEnded {
            member_id: grace.1.clone()
        }
    );
    assert!(matches!(
        events[1],
        Event::MemberLeft {
            reason: LeaveReason::Left,
            ..
        }
    ));
    assert_eq!(events.len(), 3);
    // After rejoining, the share state starts fresh.
    let (_, outs) = h.request(
        grace.0,
        json!({ "type": "join", "room": "standup", "name": "Grace" }),
    );
    match joined_reply(&outs, grace.0, h.next_id - 1) {
        ReplyBody::Joined { members, .. } => assert!(!members[2].screen_sharing),
        _ => unreachable!(),
    }
    let (id, outs) = h.request(grace.0, json!({ "type": "stop_screen_share" }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::InvalidState);
}

#[test]
fn the_last_moderator_leaving_leaves_no_moderator() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    h.request(ada.0, json!({ "type": "leave" }));
    let (id, outs) = h.request(grace.0, json!({ "type": "kick", "member_id": linus.1 }));
    assert_only_error(&outs, grace.0, Some(id), ErrorCode::NotModerator);
}

// ------------------------------------------------------------- disconnect

#[test]
fn disconnect_tells_the_others() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let outs = h.gone(linus.0);
    let expected = vec![
        Event::MemberLeft {
            member_id: linus.1.clone(),
            name: "Linus".into(),
            reason: LeaveReason::Disconnected,
        },
        Event::MemberListUpdated {
            members: vec![
                member(&ada.1, "Ada", Role::Moderator),
                member(&grace.1, "Grace", Role::Participant),
            ],
        },
    ];
    assert_eq!(events_to(&outs, ada.0), expected);
    assert_eq!(events_to(&outs, grace.0), expected);
    assert!(messages_to(&outs, linus.0).is_empty());
    assert!(closes(&outs).is_empty());
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Close {
            member: linus.0,
            peers: vec![ada.0, grace.0]
        }]
    );
    // The connection is gone: its frames are ignored, a second disconnect is a no-op.
    assert!(h.frame(linus.0, &chat_body("ghost").to_string()).is_empty());
    assert!(h.rooms.disconnect(linus.0, h.now).is_empty());
    assert_eq!(h.rooms.peers_of(ada.0), vec![grace.0]);
}

#[test]
fn disconnect_while_sharing_ends_the_share() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    h.request(grace.0, json!({ "type": "start_screen_share" }));
    let outs = h.gone(grace.0);
    for conn in [ada.0, linus.0] {
        assert_eq!(
            events_to(&outs, conn),
            vec![
                Event::ScreenShareEnded {
                    member_id: grace.1.clone()
                },
                Event::MemberLeft {
                    member_id: grace.1.clone(),
                    name: "Grace".into(),
                    reason: LeaveReason::Disconnected,
                },
                Event::MemberListUpdated {
                    members: vec![
                        member(&ada.1, "Ada", Role::Moderator),
                        member(&linus.1, "Linus", Role::Participant),
                    ],
                },
            ]
        );
    }
}

// ------------------------------------------------------------------ resume

/// The `resume_token` of `conn`'s join, from the `joined` reply.
fn join_with_token(h: &mut Harness, n: u64, room: &str, name: &str) -> (ConnId, MemberId, String) {
    let conn = h.greeted(n);
    let (id, outs) = h.request(conn, json!({ "type": "join", "room": room, "name": name }));
    match joined_reply(&outs, conn, id) {
        ReplyBody::Joined {
            member_id,
            resume_token: Some(token),
            ..
        } => (conn, member_id.clone(), token.clone()),
        other => panic!("no resume token: {other:?}"),
    }
}

/// The numbered events to `conn`, as (seq, event).
fn numbered_to(outs: &[Output], conn: ConnId) -> Vec<(u64, Event)> {
    messages_to(outs, conn)
        .into_iter()
        .filter_map(|msg| match msg {
            ServerMessage::Event { seq, event } => Some((*seq, untimed(event.clone()))),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dropped_member_is_reconnecting_for_the_grace_period_and_hears_nothing_meanwhile() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, grace_id) = h.joined(2, "r", "Grace");
    let outs = h.rooms.disconnect(grace, h.now);
    let mut reconnecting = member(&grace_id, "Grace", Role::Participant);
    reconnecting.reconnecting = true;
    assert_eq!(
        events_to(&outs, ada)[0],
        Event::MemberUpdated {
            member: reconnecting,
            updated: vec![MemberField::Reconnecting],
        }
    );
    assert!(
        media(&outs).is_empty(),
        "its media stays up for the grace period"
    );
    // While away, nothing is sent to it: its log keeps it.
    let (_, outs) = h.request(ada, chat_body("are you there?"));
    assert!(messages_to(&outs, grace).is_empty());
    h.now += Duration::from_secs(29);
    assert!(
        h.rooms.tick(h.now).is_empty(),
        "29 s of 30: still in the room"
    );
    h.now += Duration::from_secs(1);
    let outs = h.rooms.tick(h.now);
    assert!(matches!(
        &events_to(&outs, ada)[0],
        Event::MemberLeft { member_id, reason: LeaveReason::Disconnected, .. } if *member_id == grace_id
    ));
    assert!(matches!(media(&outs)[..], [MediaAction::Close { member, .. }] if *member == grace));
}

#[test]
fn a_resumed_member_gets_what_it_missed_once_and_in_order_and_nobody_saw_it_leave() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, grace_id, token) = join_with_token(&mut h, 2, "r", "Grace");
    let (_, outs) = h.request(ada, chat_body("one"));
    let (seen, _) = *numbered_to(&outs, grace).last().expect("grace heard it");
    h.rooms.disconnect(grace, h.now);
    h.request(ada, chat_body("two"));
    h.request(ada, chat_body("three"));
    // A new connection takes Grace back.
    let fresh = h.greeted(3);
    let (id, outs) = h.request(
        fresh,
        json!({ "type": "resume", "token": token, "last_seq": seen }),
    );
    assert!(
        matches!(
            &outs[0],
            Output::Send { to, msg: ServerMessage::Reply { id: reply, body: ReplyBody::Resumed { member_id, missed: 2, .. } } }
                if *to == fresh && *reply == id && *member_id == grace_id
        ),
        "{outs:#?}"
    );
    assert_eq!(
        outs[1],
        Output::Adopt(Adopt {
            socket: fresh,
            session: grace
        })
    );
    let replayed = numbered_to(&outs, grace);
    let texts: Vec<(u64, String)> = replayed
        .iter()
        .filter_map(|(seq, event)| match event {
            Event::ChatMessage { text, .. } => Some((*seq, text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [(seen + 1, "two".into()), (seen + 2, "three".into())]
    );
    // The others see it back, never gone.
    let back = events_to(&outs, ada);
    assert!(matches!(&back[0], Event::MemberUpdated { member, .. } if !member.reconnecting));
    assert!(!back.iter().any(|e| matches!(e, Event::MemberLeft { .. })));
    // It is the same member: its requests act as Grace, numbered on from where it was.
    let (_, outs) = h.request(grace, chat_body("back"));
    assert!(matches!(
        &numbered_to(&outs, ada)[..],
        [(_, Event::ChatMessage { from, .. })] if *from == grace_id
    ));
    assert_eq!(numbered_to(&outs, grace)[0].0, seen + 3);
    // The grace period no longer runs.
    h.now += Duration::from_secs(60);
    assert!(h.rooms.tick(h.now).is_empty());
}

#[test]
fn a_resume_that_cannot_be_honoured_is_resume_failed_and_the_member_goes_at_once() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, grace_id, token) = join_with_token(&mut h, 2, "r", "Grace");
    let fresh = h.greeted(3);
    let (id, outs) = h.request(
        fresh,
        json!({ "type": "resume", "token": "forged", "last_seq": 0 }),
    );
    assert_only_error(&outs, fresh, Some(id), ErrorCode::ResumeFailed);
    // A member that claims events it was never sent cannot be replayed exactly.
    h.rooms.disconnect(grace, h.now);
    let (id, outs) = h.request(
        fresh,
        json!({ "type": "resume", "token": token, "last_seq": 999 }),
    );
    assert!(matches!(
        &outs[0],
        Output::Send { msg: ServerMessage::Error { id: Some(e), error }, .. }
            if *e == id && error.code == ErrorCode::ResumeFailed
    ));
    assert!(
        events_to(&outs, ada)
            .iter()
            .any(|e| matches!(e, Event::MemberLeft { member_id, .. } if *member_id == grace_id)),
        "it will join again, so the old member goes now"
    );
    // Past the grace period the token is no good either.
    let (_, _, token) = join_with_token(&mut h, 4, "r", "Linus");
    h.gone(ConnId(4));
    let fresh = h.greeted(5);
    let (id, outs) = h.request(
        fresh,
        json!({ "type": "resume", "token": token, "last_seq": 0 }),
    );
    assert_only_error(&outs, fresh, Some(id), ErrorCode::ResumeFailed);
}

#[test]
fn after_a_restart_a_returning_participant_does_not_take_the_moderators_place() {
    let mut h = Harness::new();
    let join = |h: &mut Harness, n, body: Value| {
        let conn = h.greeted(n);
        let (id, outs) = h.request(conn, body);
        match joined_reply(&outs, conn, id) {
            ReplyBody::Joined { role, .. } => *role,
            _ => unreachable!(),
        }
    };
    // Bob, a participant before the restart, is back first.
    let bob = json!({ "type": "join", "room": "r", "name": "Bob", "returning_participant": true });
    assert_eq!(join(&mut h, 1, bob), Role::Participant);
    // Ada, the moderator before, claims it with her secret...
    let ada = json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "north" });
    assert_eq!(join(&mut h, 2, ada), Role::Moderator);
    // ...which is the room's secret from now on.
    let again = json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "north" });
    assert_eq!(join(&mut h, 3, again), Role::Moderator);
    let newcomer = json!({ "type": "join", "room": "r", "name": "Dan" });
    assert_eq!(join(&mut h, 4, newcomer), Role::Participant);
}

#[test]
fn a_member_kicked_or_ended_while_away_leaves_no_record_behind() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, grace_id) = h.joined(2, "r", "Grace");
    h.joined(3, "r", "Linus");
    h.rooms.disconnect(grace, h.now);
    h.request(ada, json!({ "type": "kick", "member_id": grace_id }));
    assert_eq!(h.rooms.connections.len(), 2, "only ada's and linus's");
    h.rooms.disconnect(ConnId(3), h.now);
    h.request(ada, json!({ "type": "end_room" }));
    assert_eq!(
        h.rooms.connections.len(),
        1,
        "only ada's, whose socket is open"
    );
    assert!(h.rooms.resume_tokens.is_empty());
}

#[test]
fn a_leave_or_a_kick_is_not_a_drop() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, _) = h.joined(2, "r", "Grace");
    h.request(grace, json!({ "type": "leave" }));
    let outs = h.rooms.disconnect(grace, h.now);
    assert!(outs.is_empty(), "it left: nothing more to say");
    let (_, linus_id) = h.joined(3, "r", "Linus");
    h.request(ada, json!({ "type": "kick", "member_id": linus_id }));
    assert!(h.rooms.disconnect(ConnId(3), h.now).is_empty());
    assert_eq!(h.rooms.peers_of(ada), Vec::<ConnId>::new());
}

#[test]
fn disconnect_before_joining_sends_nothing() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let c = h.connect(2);
    assert!(h.rooms.disconnect(c, h.now).is_empty());
    let g = h.greeted(3);
    assert!(h.rooms.disconnect(g, h.now).is_empty());
    assert_eq!(h.rooms.peers_of(ada), Vec::<ConnId>::new());
}

#[test]
fn an_empty_room_is_removed_and_its_next_joiner_is_moderator() {
    let mut h = Harness::new();
    let (ada, _) = h.joined_with(
        1,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s" }),
    );
    let (grace, _) = h.joined(2, "r", "Grace");
    h.gone(ada);
    // Grace alone is still a participant: roles do not change.
    let (linus, linus_id) = h.joined(3, "r", "Linus");
    let (id, outs) = h.request(grace, json!({ "type": "kick", "member_id": linus_id }));
    assert_only_error(&outs, grace, Some(id), ErrorCode::NotModerator);
    h.gone(grace);
    let (_, outs) = h.request(linus, json!({ "type": "leave" }));
    assert!(
        media(&outs)
            .iter()
            .all(|a| matches!(a, MediaAction::Close { peers, .. } if peers.is_empty()))
    );
    assert!(h.rooms.rooms.is_empty(), "the room is removed when empty");

    // A squatter who re-creates the room is not its moderator: the room's
    // secret is kept, and only it makes one.
    let ken = h.greeted(4);
    let (id, outs) = h.request(ken, json!({ "type": "join", "room": "r", "name": "Ken" }));
    match joined_reply(&outs, ken, id) {
        ReplyBody::Joined { role, members, .. } => {
            assert_eq!(*role, Role::Participant);
            assert_eq!(members.len(), 1);
        }
        _ => unreachable!(),
    }
    assert_eq!(
        media(&outs),
        vec![&MediaAction::Open {
            member: ken,
            peers: vec![]
        }]
    );
    let ada_again = h.greeted(5);
    let (id, outs) = h.request(
        ada_again,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s" }),
    );
    match joined_reply(&outs, ada_again, id) {
        ReplyBody::Joined { role, .. } => assert_eq!(*role, Role::Moderator, "the owner is back"),
        _ => unreachable!(),
    }
}

#[test]
fn an_emptied_rooms_secret_is_forgotten_after_a_while() {
    let mut h = Harness::new();
    let (ada, _) = h.joined_with(
        1,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s" }),
    );
    h.rooms.disconnect(ada, h.now);
    h.now += crate::secrets::RETAIN;
    let (ken, _) = h.joined(2, "r", "Ken");
    let role = h
        .rooms
        .rooms
        .values()
        .next()
        .unwrap()
        .members
        .values()
        .next()
        .unwrap()
        .member
        .role;
    assert_eq!(role, Role::Moderator, "a new room, a new founder");
    let _ = ken;
}

#[test]
fn wrong_moderator_secrets_are_throttled_and_a_right_one_then_confirms_nothing() {
    let mut h = Harness::new();
    h.joined_with(
        1,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "4711" }),
    );
    let burst = crate::secrets::GUESS_BURST as u64;
    for guess in 0..burst {
        let c = h.greeted(10 + guess);
        let (id, outs) = h.request(
            c,
            json!({ "type": "join", "room": "r", "name": format!("Mallory {guess}"), "moderator_secret": format!("{guess:04}") }),
        );
        match joined_reply(&outs, c, id) {
            ReplyBody::Joined { role, .. } => assert_eq!(*role, Role::Participant),
            _ => unreachable!(),
        }
    }
    // The next try is refused before the secret is looked at, even the right one.
    let c = h.greeted(50);
    let (id, outs) = h.request(
        c,
        json!({ "type": "join", "room": "r", "name": "Mallory", "moderator_secret": "4711" }),
    );
    assert_only_error(&outs, c, Some(id), ErrorCode::RateLimited);
    // Time refills the allowance.
    h.now += crate::secrets::GUESS_REFILL;
    let c = h.greeted(51);
    let (id, outs) = h.request(
        c,
        json!({ "type": "join", "room": "r", "name": "Grace", "moderator_secret": "4711" }),
    );
    match joined_reply(&outs, c, id) {
        ReplyBody::Joined { role, .. } => assert_eq!(*role, Role::Moderator),
        _ => unreachable!(),
    }
}

#[test]
fn a_moderator_ends_the_room_for_everyone() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, _) = h.joined(2, "r", "Grace");
    let (linus, _) = h.joined(3, "r", "Linus");
    let (id, outs) = h.request(grace, json!({ "type": "end_room" }));
    assert_only_error(&outs, grace, Some(id), ErrorCode::NotModerator);

    let (id, outs) = h.request(ada, json!({ "type": "end_room" }));
    assert_eq!(outs[0], ok_reply(ada, id));
    for conn in [ada, grace, linus] {
        assert!(
            events_to(&outs, conn).contains(&Event::RoomLeft {
                room: "r".into(),
                reason: LeaveReason::Ended
            }),
            "{conn:?} was told"
        );
    }
    let closed: Vec<ConnId> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        [grace, linus],
        "the others' connections close, not the moderator's"
    );
    assert!(h.rooms.rooms.is_empty(), "the room is gone");
    // What the others still send is not read; the moderator may join again.
    let (_, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
    );
    assert!(outs.is_empty());
}

#[test]
fn a_server_that_shuts_down_ends_every_meeting_with_reason_ended() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "standup", "Ada");
    let (grace, _) = h.joined(2, "standup", "Grace");
    let (linus, _) = h.joined(3, "review", "Linus");
    let outs = h.rooms.end_all(h.now);
    for (conn, room) in [(ada, "standup"), (grace, "standup"), (linus, "review")] {
        assert!(
            events_to(&outs, conn).contains(&Event::RoomLeft {
                room: room.into(),
                reason: LeaveReason::Ended
            }),
            "{conn:?} was told"
        );
        assert!(
            outs.iter()
                .any(|o| matches!(o, Output::Close { conn: c } if *c == conn)),
            "{conn:?} is closed"
        );
    }
    assert!(h.rooms.rooms.is_empty(), "no meeting is left");
}

#[test]
fn a_kicked_connection_cannot_rejoin_with_a_request_already_sent() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (grace, grace_id) = h.joined(2, "r", "Grace");
    let (_, outs) = h.request(ada, json!({ "type": "kick", "member_id": grace_id }));
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn } if *conn == grace))
    );
    // Grace's join was already on its way when the kick landed.
    let (_, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
    );
    assert!(outs.is_empty(), "ignored: {outs:?}");
    assert_eq!(h.rooms.rooms.values().next().unwrap().members.len(), 1);
}

#[test]
fn an_answer_must_answer_the_offer_waiting_for_it() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (id, outs) = h.request(ada, json!({ "type": "answer", "sdp": "v=0" }));
    assert_only_error(&outs, ada, Some(id), ErrorCode::InvalidSdp);

    let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=setup:actpass\r\na=ice-ufrag:srv\r\na=ice-pwd:pppppppppppppppppppppppp\r\n";
    let outs = h.rooms.offered(ada, offer.to_owned());
    assert!(
        matches!(&outs[..], [Output::Send { to, msg: ServerMessage::Offer { .. } }] if *to == ada)
    );
    // The server's own offer sent back: refused with the request id.
    let (id, outs) = h.request(ada, json!({ "type": "answer", "sdp": offer }));
    assert_only_error(&outs, ada, Some(id), ErrorCode::InvalidSdp);
    // The real answer still goes through afterwards.
    let answer = offer
        .replace("actpass", "active")
        .replace("ufrag:srv", "ufrag:cli");
    let (id, outs) = h.request(ada, json!({ "type": "answer", "sdp": answer }));
    assert_eq!(outs[0], ok_reply(ada, id));
    assert!(matches!(media(&outs)[..], [MediaAction::Answer { .. }]));
    // And only once.
    let (id, outs) = h.request(ada, json!({ "type": "answer", "sdp": answer }));
    assert_only_error(&outs, ada, Some(id), ErrorCode::InvalidSdp);
}

// ------------------------------------------------------------- rate limit

#[test]
fn rate_limit_allows_a_burst_then_refills() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let t0 = h.now + Duration::from_secs(5);
    let grace = ConnId(2);
    h.rooms.connect(grace, IpAddr::from([192, 0, 2, 1]), t0);
    let limits = Limits::default();
    assert_eq!(limits.max_messages_per_second, 20);
    let mut id = 0;
    let mut send = |h: &mut Harness, body: Value, at: Instant| {
        id += 1;
        let mut body = body;
        body["id"] = json!(id);
        (
            id,
            h.rooms
                .handle_frame(grace, &body.to_string(), at, START_UNIX_MS),
        )
    };
    let ping = json!({ "type": "ping" });
    let pong = |id| Output::Send {
        to: grace,
        msg: ServerMessage::Reply {
            id,
            body: ReplyBody::Pong {},
        },
    };

    // A burst of 40 at one instant passes: hello, join, 38 pings.
    let (id, outs) = send(&mut h, hello_body(PROTOCOL_VERSION), t0);
    assert_eq!(outs[0], ok_reply(grace, id));
    let (id, outs) = send(
        &mut h,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
        t0,
    );
    joined_reply(&outs, grace, id);
    for _ in 0..38 {
        let (id, outs) = send(&mut h, ping.clone(), t0);
        assert_eq!(outs, vec![pong(id)]);
    }
    // The 41st is dropped unread: a chat that reaches nobody.
    let (_, outs) = send(&mut h, chat_body("too fast"), t0);
    assert_only_error(&outs, grace, None, ErrorCode::RateLimited);
    let (_, outs) = send(&mut h, ping.clone(), t0 + Duration::from_millis(10));
    assert_only_error(&outs, grace, None, ErrorCode::RateLimited);

    // One simulated second later, 20 more pass (the first a chat that arrives).
    let t1 = t0 + Duration::from_secs(1);
    let (id, outs) = send(&mut h, chat_body("slower now"), t1);
    assert_eq!(outs[0], ok_reply(grace, id));
    assert_eq!(events_to(&outs, ada).len(), 1);
    for _ in 0..19 {
        let (id, outs) = send(&mut h, ping.clone(), t1);
        assert_eq!(outs, vec![pong(id)]);
    }
    let (_, outs) = send(&mut h, ping.clone(), t1);
    assert_only_error(&outs, grace, None, ErrorCode::RateLimited);

    // A quarter second refills five.
    let t2 = t1 + Duration::from_millis(250);
    for _ in 0..5 {
        let (id, outs) = send(&mut h, ping.clone(), t2);
        assert_eq!(outs, vec![pong(id)]);
    }
    let (_, outs) = send(&mut h, ping.clone(), t2);
    assert_only_error(&outs, grace, None, ErrorCode::RateLimited);

    // A long pause refills at most a burst of 40.
    let t3 = t2 + Duration::from_secs(60);
    for _ in 0..40 {
        let (id, outs) = send(&mut h, ping.clone(), t3);
        assert_eq!(outs, vec![pong(id)]);
    }
    let (_, outs) = send(&mut h, ping.clone(), t3);
    assert_only_error(&outs, grace, None, ErrorCode::RateLimited);

    // Other connections have their own bucket.
    let now = t3;
    let (id, outs) = {
        let body = json!({ "type": "ping", "id": 7 });
        (
            7,
            h.rooms
                .handle_frame(ada, &body.to_string(), now, START_UNIX_MS),
        )
    };
    assert!(matches!(
        &outs[..],
        [Output::Send { to, msg: ServerMessage::Reply { id: rid, body: ReplyBody::Pong {} } }]
            if *to == ada && *rid == id
    ));
}

#[test]
fn rate_limit_counts_every_frame_even_bad_ones() {
    let mut h = Harness::new();
    let t0 = h.now;
    let c = h.connect(1);
    for _ in 0..40 {
        let outs = h.rooms.handle_frame(c, "not json", t0, START_UNIX_MS);
        assert_only_error(&outs, c, None, ErrorCode::BadJson);
    }
    let outs = h
        .rooms
        .handle_frame(c, &hello_body(1).to_string(), t0, START_UNIX_MS);
    assert_only_error(&outs, c, None, ErrorCode::RateLimited);
}

// ------------------------------------------------------- malformed input

#[test]
fn malformed_frames_get_errors_and_harm_nobody() {
    let Trio {
        mut h,
        ada,
        grace,
        linus,
    } = trio();
    let max_frame = Limits::default().max_frame_bytes;
    let deep_ok = format!(
        r#"{{"id":30,"type":"chat","text":{}"x"{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let deep_too_deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_wrong_type = format!(
        r#"{{"id":31,"type":"set_talking","talking":[{}0]}}"#,
        "0,".repeat(50_000)
    );
    let cases: Vec<(String, Option<u64>, ErrorCode)> = vec![
        // Not JSON at all.
        ("not json".into(), None, ErrorCode::BadJson),
        ("".into(), None, ErrorCode::BadJson),
        ("   ".into(), None, ErrorCode::BadJson),
        (r#"{"id":1,"type":"ping""#.into(), None, ErrorCode::BadJson),
        ("{'id':1,'type':'ping'}".into(), None, ErrorCode::BadJson),
        (
            r#"{"id":1,"type":"ping"} trailing"#.into(),
            None,
            ErrorCode::BadJson,
        ),
        (
            r#"{"id":1,"type":"ping",}"#.into(),
            None,
            ErrorCode::BadJson,
        ),
        (
            "\u{feff}{\"id\":1,\"type\":\"ping\"}".into(),
            None,
            ErrorCode::BadJson,
        ),
        // serde_json refuses nesting deeper than 128 while parsing, so this
        // valid-but-absurd JSON is reported as bad_json, with id null.
        (deep_too_deep, None, ErrorCode::BadJson),
        // JSON, but no numeric id: invalid_message with id null.
        ("null".into(), None, ErrorCode::InvalidMessage),
        ("[]".into(), None, ErrorCode::InvalidMessage),
        (
            r#"[{"id":1,"type":"ping"}]"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        ("42".into(), None, ErrorCode::InvalidMessage),
        (r#""ping""#.into(), None, ErrorCode::InvalidMessage),
        ("true".into(), None, ErrorCode::InvalidMessage),
        ("{}".into(), None, ErrorCode::InvalidMessage),
        (r#"{"type":"ping"}"#.into(), None, ErrorCode::InvalidMessage),
        (
            r#"{"id":"1","type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":null,"type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":-1,"type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":1.5,"type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":18446744073709551616,"type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":[1],"type":"ping"}"#.into(),
            None,
            ErrorCode::InvalidMessage,
        ),
        // A numeric id but not a request: invalid_message with that id.
        (r#"{"id":2}"#.into(), Some(2), ErrorCode::InvalidMessage),
        (
            r#"{"id":3,"type":"bogus"}"#.into(),
            Some(3),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":4,"type":"PING"}"#.into(),
            Some(4),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":5,"type":null}"#.into(),
            Some(5),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":6,"type":{"name":"ping"}}"#.into(),
            Some(6),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":7,"type":"chat"}"#.into(),
            Some(7),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":8,"type":"chat","text":42}"#.into(),
            Some(8),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":9,"type":"chat","text":null}"#.into(),
            Some(9),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":10,"type":"chat","text":"hi","to":123}"#.into(),
            Some(10),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":11,"type":"chat","text":"hi","from":{"id":"m1"}}"#.into(),
            Some(11),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":12,"type":"set_talking","talking":"yes"}"#.into(),
            Some(12),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":13,"type":"set_talking"}"#.into(),
            Some(13),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":14,"type":"set_media","audio_muted":1}"#.into(),
            Some(14),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":15,"type":"kick","member_id":7}"#.into(),
            Some(15),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":16,"type":"kick"}"#.into(),
            Some(16),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":17,"type":"kick","member_id":"m1","reason":false}"#.into(),
            Some(17),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":18,"type":"join","room":"r"}"#.into(),
            Some(18),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":19,"type":"join","room":"r","name":"n","audio_muted":"yes"}"#.into(),
            Some(19),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":20,"type":"hello","version":"1","client":"x"}"#.into(),
            Some(20),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":21,"type":"hello","version":-1,"client":"x"}"#.into(),
            Some(21),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":22,"type":"hello","version":4294967296,"client":"x"}"#.into(),
            Some(22),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":23,"type":"hello","version":1}"#.into(),
            Some(23),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":24,"type":"answer"}"#.into(),
            Some(24),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":25,"type":"answer","sdp":["v=0"]}"#.into(),
            Some(25),
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"id":26,"type":"leave","0":1,"type":"nope"}"#.into(),
            Some(26),
            ErrorCode::InvalidMessage,
        ),
        (deep_ok, Some(30), ErrorCode::InvalidMessage),
        (huge_wrong_type, Some(31), ErrorCode::InvalidMessage),
        // Too large, however well formed.
        ("x".repeat(max_frame + 1), None, ErrorCode::TooLarge),
        (
            format!(
                r#"{{"id":40,"type":"chat","text":"{}"}}"#,
                "x".repeat(max_frame)
            ),
            None,
            ErrorCode::TooLarge,
        ),
    ];
    assert!(cases.len() >= 20);
    let mut all = Vec::new();
    for (text, id, code) in &cases {
        let outs = h.frame(grace.0, text);
        let shown: String = text.chars().take(80).collect();
        match &outs[..] {
            [
                Output::Send {
                    to,
                    msg: ServerMessage::Error { id: got, error },
                },
            ] if *to == grace.0 && got == id && error.code == *code => {}
            _ => panic!("{shown:?}: expected only {code:?} with id {id:?}, got {outs:?}"),
        }
        all.extend(outs);
    }
    // Refused by the transport before it could be read.
    for size in [max_frame + 1, 4 * max_frame + 1, usize::MAX] {
        let outs = h.rooms.handle_oversized(grace.0, size);
        assert_only_error(&outs, grace.0, None, ErrorCode::TooLarge);
        all.extend(outs);
    }
    // Nobody else was ever sent anything.
    assert!(
        all.iter()
            .all(|o| matches!(o, Output::Send { to, .. } if *to == grace.0))
    );

    // A frame of exactly max_frame_bytes is read.
    let head = r#"{"id":41,"type":"ping"}"#;
    let padded = format!("{head}{}", " ".repeat(max_frame - head.len()));
    assert_eq!(padded.len(), max_frame);
    let outs = h.frame(grace.0, &padded);
    assert_eq!(
        outs,
        vec![Output::Send {
            to: grace.0,
            msg: ServerMessage::Reply {
                id: 41,
                body: ReplyBody::Pong {}
            }
        }]
    );

    // The connection still works normally.
    let (id, outs) = h.request(grace.0, chat_body("still fine"));
    assert_eq!(outs[0], ok_reply(grace.0, id));
    for conn in [ada.0, grace.0, linus.0] {
        assert_eq!(
            events_to(&outs, conn),
            vec![chat_message(&grace.1, "Grace", "still fine")]
        );
    }
    assert_eq!(h.rooms.peers_of(grace.0), vec![ada.0, linus.0]);
}

#[test]
fn malformed_frames_before_hello_get_the_same_errors() {
    let mut h = Harness::new();
    let c = h.connect(1);
    let outs = h.frame(c, "nope");
    assert_only_error(&outs, c, None, ErrorCode::BadJson);
    let outs = h.frame(c, r#"{"type":"hello","version":1,"client":"x"}"#);
    assert_only_error(&outs, c, None, ErrorCode::InvalidMessage);
    let outs = h.frame(c, r#"{"id":5,"type":"hello","version":1}"#);
    assert_only_error(&outs, c, Some(5), ErrorCode::InvalidMessage);
    // Still not greeted.
    let (id, outs) = h.request(c, json!({ "type": "ping" }));
    assert_only_error(&outs, c, Some(id), ErrorCode::HelloRequired);
}

// ------------------------------------------------------------ reply first

#[test]
fn the_reply_to_a_request_is_the_first_output() {
    let mut h = Harness::new();
    let (ada, ada_id) = h.joined(1, "r", "Ada");
    let (_, linus_id) = h.joined(2, "r", "Linus");
    let (ken, ken_id) = h.joined(4, "r", "Ken");
    let grace = h.connect(3);
    let script = [
        (grace, hello_body(PROTOCOL_VERSION)),
        (
            grace,
            json!({ "type": "join", "room": "r", "name": "Grace" }),
        ),
        (grace, json!({ "type": "answer", "sdp": "v=0" })),
        (
            grace,
            json!({ "type": "set_media", "audio_muted": true, "video_muted": true }),
        ),
        (grace, json!({ "type": "set_talking", "talking": true })),
        (grace, json!({ "type": "start_screen_share" })),
        (grace, json!({ "type": "start_screen_share" })),
        (grace, chat_body("hi")),
        (
            grace,
            json!({ "type": "chat", "text": "psst", "to": ada_id }),
        ),
        (grace, json!({ "type": "kick", "member_id": ada_id })),
        (ada, json!({ "type": "kick", "member_id": linus_id })),
        (grace, json!({ "type": "stop_screen_share" })),
        (grace, json!({ "type": "ping" })),
        (ken, json!({ "type": "leave" })),
        (grace, json!({ "type": "leave" })),
        (
            grace,
            json!({ "type": "join", "room": "r", "name": "Grace" }),
        ),
        (ada, json!({ "type": "kick", "member_id": ada_id })),
    ];
    let _ = ken_id;
    for (conn, body) in script {
        let what = body["type"].as_str().unwrap().to_owned();
        let (id, outs) = h.request(conn, body);
        assert!(outs.len() > 0, "{what}: no output");
        match &outs[0] {
            Output::Send {
                to,
                msg:
                    ServerMessage::Reply { id: got, .. } | ServerMessage::Error { id: Some(got), .. },
            } if *to == conn && *got == id => {}
            other => panic!("{what}: first output is {other:?}"),
        }
        // And exactly one answer per request.
        let answers = outs
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send {
                        msg: ServerMessage::Reply { .. } | ServerMessage::Error { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(answers, 1, "{what}: {outs:?}");
    }
}

#[test]
fn events_caused_by_a_join_follow_its_reply() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let grace = h.greeted(2);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
    );
    joined_reply(&outs, grace, id);
    assert!(outs[1..].iter().all(|o| !matches!(
        o,
        Output::Send {
            msg: ServerMessage::Reply { .. },
            ..
        }
    )));
    assert!(events_to(&outs, ada).len() == 2);
}

#[test]
fn a_locked_room_admits_only_holders_of_the_secret_and_everyone_hears_the_lock() {
    let mut h = Harness::new();
    let (ada, _) = h.joined_with(
        1,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s3cret" }),
    );
    let (grace, _) = h.joined(2, "r", "Grace");
    let (id, outs) = h.request(grace, json!({ "type": "set_room_lock", "locked": true }));
    assert_only_error(&outs, grace, Some(id), ErrorCode::NotModerator);

    let (id, outs) = h.request(ada, json!({ "type": "set_room_lock", "locked": true }));
    assert_eq!(outs[0], ok_reply(ada, id));
    let locked = Event::RoomUpdated {
        room: "r".into(),
        locked: true,
        password_protected: false,
    };
    for conn in [ada, grace] {
        assert_eq!(
            events_to(&outs, conn),
            [locked.clone()],
            "{conn:?} heard it"
        );
    }
    let linus = h.greeted(3);
    let (id, outs) = h.request(
        linus,
        json!({ "type": "join", "room": "r", "name": "Linus" }),
    );
    assert_only_error(&outs, linus, Some(id), ErrorCode::RoomLocked);
    // The host with the secret comes back in, and hears that the room is locked.
    let host = h.greeted(4);
    let (id, outs) = h.request(
        host,
        json!({ "type": "join", "room": "r", "name": "Ada", "moderator_secret": "s3cret" }),
    );
    assert!(matches!(
        joined_reply(&outs, host, id),
        ReplyBody::Joined {
            role: Role::Moderator,
            ..
        }
    ));
    assert_eq!(events_to(&outs, host), [locked]);
    // Unlocked, anyone may come in again.
    h.request(ada, json!({ "type": "set_room_lock", "locked": false }));
    let (id, outs) = h.request(
        linus,
        json!({ "type": "join", "room": "r", "name": "Linus" }),
    );
    assert!(matches!(
        joined_reply(&outs, linus, id),
        ReplyBody::Joined { .. }
    ));
}

#[test]
fn a_room_password_is_asked_of_newcomers_and_never_told() {
    let mut h = Harness::new();
    let (ada, _) = h.joined(1, "r", "Ada");
    let (id, outs) = h.request(
        ada,
        json!({ "type": "set_room_password", "password": "  " }),
    );
    assert_only_error(&outs, ada, Some(id), ErrorCode::InvalidMessage);
    let (id, outs) = h.request(
        ada,
        json!({ "type": "set_room_password", "password": "x".repeat(65) }),
    );
    assert_only_error(&outs, ada, Some(id), ErrorCode::TooLarge);
    let (id, outs) = h.request(
        ada,
        json!({ "type": "set_room_password", "password": "tulip" }),
    );
    assert_eq!(outs[0], ok_reply(ada, id));
    assert_eq!(
        events_to(&outs, ada),
        [Event::RoomUpdated {
            room: "r".into(),
            locked: false,
            password_protected: true,
        }]
    );
    assert!(
        !format!("{outs:?}").contains("tulip"),
        "the password is never sent back"
    );
    let grace = h.greeted(2);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace" }),
    );
    assert_only_error(&outs, grace, Some(id), ErrorCode::WrongPassword);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace", "password": "rose" }),
    );
    assert_only_error(&outs, grace, Some(id), ErrorCode::WrongPassword);
    let (id, outs) = h.request(
        grace,
        json!({ "type": "join", "room": "r", "name": "Grace", "password": "tulip" }),
    );
    assert!(matches!(
        joined_reply(&outs, grace, id),
        ReplyBody::Joined { .. }
    ));
    // Guessing is throttled like moderator secrets: the allowance runs out.
    let mallory = h.greeted(3);
    let refused: Vec<ErrorCode> = (0..10)
        .map(|i| {
            let (_, outs) = h.request(
                mallory,
                json!({ "type": "join", "room": "r", "name": "M", "password": format!("guess{i}") }),
            );
            match &outs[0] {
                Output::Send {
                    msg: ServerMessage::Error { error, .. },
                    ..
                } => error.code,
                other => panic!("not refused: {other:?}"),
            }
        })
        .collect();
    assert!(refused.contains(&ErrorCode::RateLimited), "{refused:?}");
}

#[test]
fn a_full_server_refuses_new_rooms_and_members_with_server_full() {
    let mut h = Harness::with_limits(Limits {
        max_rooms: 2,
        max_members: 3,
        ..Limits::default()
    });
    h.joined(1, "a", "Ada");
    h.joined(2, "b", "Grace");
    let c = h.greeted(3);
    let (id, outs) = h.request(c, json!({ "type": "join", "room": "c", "name": "Linus" }));
    assert_only_error(&outs, c, Some(id), ErrorCode::ServerFull);
    // An open room still takes members, up to the server's total.
    let (id, outs) = h.request(c, json!({ "type": "join", "room": "a", "name": "Linus" }));
    assert!(matches!(
        joined_reply(&outs, c, id),
        ReplyBody::Joined { .. }
    ));
    let d = h.greeted(4);
    let (id, outs) = h.request(d, json!({ "type": "join", "room": "b", "name": "Ken" }));
    assert_only_error(&outs, d, Some(id), ErrorCode::ServerFull);
}

// ---------------------------------------------------------------- link quality

#[test]
fn a_quality_change_reaches_everyone_once_and_a_joiner_hears_the_current_one() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    let report = |quality| LinkReport {
        quality,
        downlink_slow: false,
        downlink_kbps: 3000,
    };
    let outs = h.rooms.link_report(ada.0, report(ConnectionQuality::Poor));
    let poor = Event::MemberQuality {
        member_id: ada.1.clone(),
        quality: ConnectionQuality::Poor,
    };
    assert_eq!(events_to(&outs, ada.0), [poor.clone()], "ada hears her own");
    assert_eq!(events_to(&outs, grace.0), [poor.clone()]);
    let again = h.rooms.link_report(ada.0, report(ConnectionQuality::Poor));
    assert!(again.is_empty(), "no change, no event: {again:?}");

    let conn = h.greeted(9);
    let (_, outs) = h.request(
        conn,
        json!({ "type": "join", "room": "standup", "name": "Edsger" }),
    );
    assert!(events_to(&outs, conn).contains(&poor), "{outs:?}");
}

#[test]
fn a_slow_downlink_is_told_only_to_its_member_when_it_turns() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    let slow = LinkReport {
        quality: ConnectionQuality::Good,
        downlink_slow: true,
        downlink_kbps: 540,
    };
    let outs = h.rooms.link_report(ada.0, slow);
    assert!(events_to(&outs, ada.0).contains(&Event::LinkSlow {
        direction: LinkDirection::Downlink,
        slow: true,
        estimate_kbps: 540,
    }));
    assert!(
        !events_to(&outs, grace.0)
            .iter()
            .any(|e| matches!(e, Event::LinkSlow { .. })),
        "only ada's own"
    );
    let still = h.rooms.link_report(ada.0, slow);
    assert!(still.is_empty());
}

#[test]
fn a_tile_size_is_checked_and_goes_to_the_media_task() {
    let Trio {
        mut h, ada, grace, ..
    } = trio();
    let (_, outs) = h.request(
        ada.0,
        json!({ "type": "set_video_size", "member_id": grace.1, "kind": "camera", "height": 99999 }),
    );
    assert!(media(&outs).iter().any(|action| matches!(
        action,
        MediaAction::VideoSize { member, publisher, kind: TrackKind::Camera, height: MAX_VIDEO_HEIGHT }
            if *member == ada.0 && *publisher == grace.0
    )), "{outs:?}");
    let (id, outs) = h.request(
        ada.0,
        json!({ "type": "set_video_size", "member_id": grace.1, "kind": "microphone", "height": 10 }),
    );
    assert_only_error(&outs, ada.0, Some(id), ErrorCode::InvalidMessage);
    let (id, outs) = h.request(
        ada.0,
        json!({ "type": "set_video_size", "member_id": "m999", "kind": "camera", "height": 10 }),
    );
    assert_only_error(&outs, ada.0, Some(id), ErrorCode::MemberNotFound);
}

#[test]
fn the_layers_a_member_sends_are_checked_and_go_to_the_media_task() {
    let Trio { mut h, ada, .. } = trio();
    let (_, outs) = h.request(
        ada.0,
        json!({ "type": "set_sent_layers", "kind": "camera", "largest_level": 1 }),
    );
    assert!(
        media(&outs).iter().any(|action| matches!(
            action,
            MediaAction::SentLayers { member, kind: TrackKind::Camera, largest_level: 1 }
                if *member == ada.0
        )),
        "{outs:?}"
    );
    for bad in [
        json!({ "type": "set_sent_layers", "kind": "screen", "largest_level": 0 }),
        json!({ "type": "set_sent_layers", "kind": "camera", "largest_level": 3 }),
    ] {
        let (id, outs) = h.request(ada.0, bad);
        assert_only_error(&outs, ada.0, Some(id), ErrorCode::InvalidMessage);
    }
}
