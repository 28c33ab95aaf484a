//! The session core, driven by inputs alone on a simulated clock.

use super::*;

fn member(id: &str, name: &str) -> Member {
    Member {
        id: MemberId(id.into()),
        name: name.into(),
        role: Role::Participant,
        audio_muted: false,
        video_muted: false,
        screen_sharing: false,
        talking: false,
        reconnecting: false,
    }
}

fn join_request(publishes: &[TrackKind]) -> JoinRequest {
    JoinRequest {
        ask: Join {
            room: "standup".into(),
            name: "Ada".into(),
            moderator_secret: None,
            audio_muted: false,
            video_muted: true,
            receive_media: true,
            password: None,
            token: None,
            returning_participant: false,
        },
        publishes: publishes.to_vec(),
    }
}

/// A remote track of `member` began (`live`) or stopped arriving.
fn remote_track(member: &MemberId, kind: TrackKind, instance: u64, live: bool) -> Input {
    Input::RemoteTrack {
        member: member.clone(),
        kind,
        instance,
        live,
    }
}

fn reply(id: u64, body: ReplyBody) -> Input {
    Input::Server(ServerMessage::Reply { id, body })
}

fn ok(id: u64) -> Input {
    reply(id, ReplyBody::Ok {})
}

fn refused(id: u64, code: ErrorCode) -> Input {
    Input::Server(ServerMessage::Error {
        id: Some(id),
        error: ErrorInfo::new(code, "no"),
    })
}

fn event(event: Event) -> Input {
    Input::Server(ServerMessage::Event { seq: 0, event })
}

/// The one request in `out`, with its id.
fn sent(out: &[Output]) -> (u64, ClientRequest) {
    let sent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send(ClientMessage { id, request }) => Some((*id, request.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "one request sent: {out:?}");
    sent.into_iter().next().unwrap()
}

fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn media(out: &[Output]) -> Vec<&MediaAction> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn done(out: &[Output]) -> Vec<(CommandId, &Result<(), ClientError>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Done(id, result) => Some((*id, result)),
            _ => None,
        })
        .collect()
}

/// Ada (m1) in a room with Grace (m2); she has a camera and a microphone,
/// and a screen if `screen`.
fn in_room(screen: bool) -> (SessionCore, Instant) {
    let t0 = Instant::now();
    let mut publishes = vec![TrackKind::Camera, TrackKind::Microphone];
    if screen {
        publishes.push(TrackKind::Screen);
    }
    let (mut core, out) = SessionCore::new(join_request(&publishes), t0);
    let (hello, _) = sent(&out);
    let out = core.handle(ok(hello), t0);
    let (join, _) = sent(&out);
    let members = vec![member("m2", "Grace"), member("m1", "Ada")];
    let joined = ReplyBody::Joined {
        room: "standup".into(),
        member_id: MemberId("m1".into()),
        role: Role::Participant,
        members,
        resume_token: Some("t0ken".into()),
    };
    core.handle(reply(join, joined), t0);
    for kind in [TrackKind::Camera, TrackKind::Microphone] {
        core.handle(
            Input::Published {
                kind,
                result: Ok(()),
            },
            t0,
        );
    }
    (core, t0)
}

#[test]
fn join_says_hello_then_joins_then_publishes_and_announces_the_room() {
    let t0 = Instant::now();
    let (mut core, out) = SessionCore::new(
        join_request(&[TrackKind::Camera, TrackKind::Microphone]),
        t0,
    );
    let (hello, request) = sent(&out);
    assert!(matches!(request, ClientRequest::Hello { version, .. } if version == PROTOCOL_VERSION));

    let turn = IceServer {
        urls: vec!["turn:203.0.113.5:3478".into()],
        username: "1700003600:c1".into(),
        credential: "rymsmJaSjzxFLNaUXuovp0bG6Iw=".into(),
    };
    let welcome = ServerMessage::Welcome {
        version: PROTOCOL_VERSION,
        server: "test".into(),
        limits: Default::default(),
        ice_servers: vec![turn.clone()],
    };
    let out = core.handle(Input::Server(welcome), t0);
    assert!(
        matches!(&out[..], [Output::Media(MediaAction::UseIceServers(servers))] if *servers == [turn]),
        "the relays are in use before the server's first offer: {out:?}"
    );
    let out = core.handle(ok(hello), t0);
    let (join, request) = sent(&out);
    assert_eq!(
        request,
        ClientRequest::Join(Join {
            room: "standup".into(),
            name: "Ada".into(),
            moderator_secret: None,
            audio_muted: false,
            video_muted: true,
            receive_media: true,
            password: None,
            token: None,
            returning_participant: false,
        })
    );

    let members = vec![member("m1", "Ada")];
    let joined = ReplyBody::Joined {
        room: "standup".into(),
        member_id: MemberId("m1".into()),
        role: Role::Moderator,
        members: members.clone(),
        resume_token: None,
    };
    let out = core.handle(reply(join, joined), t0);
    assert_eq!(
        media(&out),
        [
            &MediaAction::Publish {
                kind: TrackKind::Camera,
                sending: false
            },
            &MediaAction::Publish {
                kind: TrackKind::Microphone,
                sending: true
            },
        ],
        "tracks exist before the server's first offer; a muted camera is paused"
    );
    assert!(out.iter().any(|o| matches!(o,
        Output::Joined { member_id, role: Role::Moderator } if member_id.0 == "m1")));
    assert_eq!(
        events(&out),
        [Event::RoomJoined {
            room: "standup".into(),
            member_id: MemberId("m1".into()),
            role: Role::Moderator,
            members,
        }]
    );
    assert_eq!(core.me().unwrap().name, "Ada");
    assert!(core.next_deadline().is_none(), "nothing waits");
}

#[test]
fn a_refused_join_ends_the_session_with_the_servers_error() {
    let t0 = Instant::now();
    let (mut core, out) = SessionCore::new(join_request(&[]), t0);
    let (hello, _) = sent(&out);
    let out = core.handle(ok(hello), t0);
    let (join, _) = sent(&out);
    let out = core.handle(refused(join, ErrorCode::RoomFull), t0);
    assert!(matches!(&out[..], [
        Output::JoinFailed(ClientError::Refused { request: "join", error }),
        Output::Ended,
    ] if error.code == ErrorCode::RoomFull));
    assert!(core.is_ended());
    let late = core.handle(Input::Command(CommandId(1), Command::Leave), t0);
    assert!(matches!(
        done(&late)[..],
        [(CommandId(1), Err(ClientError::SessionEnded))]
    ));
}

#[test]
fn a_join_nobody_answers_times_out() {
    let t0 = Instant::now();
    let (mut core, _) = SessionCore::new(join_request(&[]), t0);
    assert_eq!(core.next_deadline(), Some(t0 + REQUEST_TIMEOUT));
    assert!(
        core.handle(Input::Tick, t0 + REQUEST_TIMEOUT / 2)
            .is_empty()
    );
    let out = core.handle(Input::Tick, t0 + REQUEST_TIMEOUT);
    assert!(matches!(
        &out[..],
        [
            Output::JoinFailed(ClientError::Timeout {
                request: "hello",
                ..
            }),
            Output::Ended
        ]
    ));
}

#[test]
fn mute_stops_the_source_at_once_and_the_own_update_follows_the_servers_ok() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(
        Input::Command(CommandId(7), Command::SetAudioMuted(true)),
        t0,
    );
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Microphone,
            sending: false
        }]
    );
    let (id, request) = sent(&out);
    assert_eq!(
        request,
        ClientRequest::SetMedia {
            audio_muted: Some(true),
            video_muted: None
        }
    );
    assert!(
        events(&out).is_empty(),
        "nothing is claimed before the server agrees"
    );
    assert!(!core.me().unwrap().audio_muted);

    let out = core.handle(ok(id), t0);
    let mut me = member("m1", "Ada");
    me.audio_muted = true;
    assert_eq!(
        events(&out),
        [Event::MemberUpdated {
            member: me,
            updated: vec![MemberField::AudioMuted]
        }]
    );
    assert!(matches!(done(&out)[..], [(CommandId(7), Ok(()))]));

    // Unmuting starts the source only once the server took it.
    let out = core.handle(
        Input::Command(CommandId(8), Command::SetAudioMuted(false)),
        t0,
    );
    assert!(media(&out).is_empty());
    let (id, _) = sent(&out);
    let out = core.handle(ok(id), t0);
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Microphone,
            sending: true
        }]
    );
    assert!(
        matches!(&events(&out)[..], [Event::MemberUpdated { member, updated }]
        if !member.audio_muted && updated == &[MemberField::AudioMuted])
    );
}

#[test]
fn camera_off_and_on_follow_the_same_rule() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(
        Input::Command(CommandId(1), Command::SetVideoMuted(true)),
        t0,
    );
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Camera,
            sending: false
        }]
    );
    let (id, _) = sent(&out);
    let out = core.handle(ok(id), t0);
    assert!(
        matches!(&events(&out)[..], [Event::MemberUpdated { member, updated }]
        if member.video_muted && updated == &[MemberField::VideoMuted])
    );
    assert!(core.me().unwrap().video_muted);
}

#[test]
fn a_refused_mute_puts_the_source_back_and_is_reported_once_as_the_commands_error() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(
        Input::Command(CommandId(3), Command::SetAudioMuted(true)),
        t0,
    );
    let (id, _) = sent(&out);
    let out = core.handle(refused(id, ErrorCode::RateLimited), t0);
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Microphone,
            sending: true
        }],
        "what is sent agrees with what others see: unmuted"
    );
    assert!(
        matches!(done(&out)[..], [(CommandId(3), Err(ClientError::Refused { request: "set_media", error }))]
        if error.code == ErrorCode::RateLimited)
    );
    assert!(
        events(&out).is_empty(),
        "no second report as an error event"
    );
}

#[test]
fn a_share_publishes_its_track_first_then_asks_then_announces_itself() {
    let (mut core, t0) = in_room(true);
    let out = core.handle(Input::Command(CommandId(4), Command::StartScreenShare), t0);
    assert_eq!(
        media(&out),
        [&MediaAction::Publish {
            kind: TrackKind::Screen,
            sending: true
        }]
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send(_))),
        "not asked yet"
    );
    let published = Input::Published {
        kind: TrackKind::Screen,
        result: Ok(()),
    };
    let out = core.handle(published, t0);
    let (id, request) = sent(&out);
    assert_eq!(request, ClientRequest::StartScreenShare {});
    let out = core.handle(ok(id), t0);
    let me = MemberId("m1".into());
    assert!(matches!(&events(&out)[..], [
        Event::MemberUpdated { member, updated },
        Event::ScreenShareStarted { member_id },
    ] if member.screen_sharing && updated == &[MemberField::ScreenSharing] && member_id == &me));
    assert!(matches!(done(&out)[..], [(CommandId(4), Ok(()))]));

    let out = core.handle(Input::Command(CommandId(5), Command::StopScreenShare), t0);
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Screen,
            sending: false
        }]
    );
    let (id, request) = sent(&out);
    assert_eq!(request, ClientRequest::StopScreenShare {});
    let out = core.handle(ok(id), t0);
    assert!(matches!(&events(&out)[..], [
        Event::MemberUpdated { member, .. },
        Event::ScreenShareEnded { member_id },
    ] if !member.screen_sharing && member_id == &me));
}

#[test]
fn sharing_needs_a_screen_source_and_a_track_that_could_be_made() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(Input::Command(CommandId(1), Command::StartScreenShare), t0);
    assert!(matches!(
        done(&out)[..],
        [(CommandId(1), Err(ClientError::NoScreenSource))]
    ));

    let (mut core, t0) = in_room(true);
    core.handle(Input::Command(CommandId(2), Command::StartScreenShare), t0);
    let failed = Input::Published {
        kind: TrackKind::Screen,
        result: Err(ClientError::Unsupported("no".into())),
    };
    let out = core.handle(failed, t0);
    assert!(matches!(
        done(&out)[..],
        [(CommandId(2), Err(ClientError::Unsupported(_)))]
    ));
    assert!(!out.iter().any(|o| matches!(o, Output::Send(_))));
}

#[test]
fn chat_whisper_kick_and_leave_send_their_requests_and_finish_on_the_reply() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    let cases = [
        (
            Command::Chat {
                text: "hi".into(),
                to: None,
            },
            ClientRequest::Chat {
                text: "hi".into(),
                to: None,
                from: None,
            },
        ),
        (
            Command::Chat {
                text: "psst".into(),
                to: Some(grace.clone()),
            },
            ClientRequest::Chat {
                text: "psst".into(),
                to: Some(grace.clone()),
                from: None,
            },
        ),
        (
            Command::Kick {
                member: grace.clone(),
                reason: Some("bye".into()),
            },
            ClientRequest::Kick {
                member_id: grace.clone(),
                reason: Some("bye".into()),
            },
        ),
        (Command::EndRoom, ClientRequest::EndRoom {}),
        (Command::Leave, ClientRequest::Leave {}),
    ];
    for (n, (command, expected)) in cases.into_iter().enumerate() {
        let command_id = CommandId(n as u64);
        let out = core.handle(Input::Command(command_id, command), t0);
        let (id, request) = sent(&out);
        assert_eq!(request, expected);
        assert!(done(&out).is_empty(), "finished only by the reply");
        let out = core.handle(ok(id), t0);
        assert!(matches!(done(&out)[..], [(c, Ok(()))] if c == command_id));
    }
    let out = core.handle(
        event(Event::RoomLeft {
            room: "standup".into(),
            reason: LeaveReason::Left,
        }),
        t0,
    );
    assert!(matches!(out.last(), Some(Output::Ended)));
    assert!(core.is_ended());
}

#[test]
fn a_refused_chat_is_the_commands_error_only() {
    let (mut core, t0) = in_room(false);
    let chat = Command::Chat {
        text: "x".repeat(5000),
        to: None,
    };
    let out = core.handle(Input::Command(CommandId(9), chat), t0);
    let (id, _) = sent(&out);
    let out = core.handle(refused(id, ErrorCode::TooLarge), t0);
    assert!(
        matches!(done(&out)[..], [(CommandId(9), Err(ClientError::Refused { error, .. }))]
        if error.code == ErrorCode::TooLarge)
    );
    assert!(
        events(&out).is_empty(),
        "one report, not also an error event"
    );
}

#[test]
fn a_request_nobody_answers_times_out_and_a_late_reply_is_ignored() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(
        Input::Command(CommandId(2), Command::SetVideoMuted(true)),
        t0,
    );
    let (id, _) = sent(&out);
    assert_eq!(core.next_deadline(), Some(t0 + REQUEST_TIMEOUT));
    let out = core.handle(Input::Tick, t0 + REQUEST_TIMEOUT);
    assert!(matches!(
        done(&out)[..],
        [(
            CommandId(2),
            Err(ClientError::Timeout {
                request: "set_media",
                ..
            })
        )]
    ));
    assert_eq!(
        media(&out),
        [&MediaAction::SetSending {
            kind: TrackKind::Camera,
            sending: true
        }],
        "the camera is what the member's state says: on"
    );
    let late = core.handle(ok(id), t0 + REQUEST_TIMEOUT * 2);
    assert!(late.is_empty(), "{late:?}");
    assert!(core.next_deadline().is_none());
}

#[test]
fn every_offer_is_handed_to_the_media_layer_and_its_answer_sent() {
    let (mut core, t0) = in_room(false);
    for n in 1..=3 {
        let sdp = format!("v=0 offer {n}");
        let out = core.handle(Input::Server(ServerMessage::Offer { sdp: sdp.clone() }), t0);
        assert_eq!(
            media(&out),
            [&MediaAction::RemoteDescription(
                Link::Both,
                Description::Offer(sdp)
            )]
        );
        let answer = format!("v=0 answer {n}");
        let out = core.handle(
            Input::LocalDescription(Link::Both, Description::Answer(answer.clone())),
            t0,
        );
        let (id, request) = sent(&out);
        assert_eq!(request, ClientRequest::Answer { sdp: answer });
        assert!(core.handle(ok(id), t0).is_empty());
    }
    // An answer the server cannot apply is the session's own request: an error event.
    let out = core.handle(
        Input::LocalDescription(Link::Both, Description::Answer("bad".into())),
        t0,
    );
    let (id, _) = sent(&out);
    let out = core.handle(refused(id, ErrorCode::InvalidSdp), t0);
    assert!(
        matches!(&events(&out)[..], [Event::Error { error, request: Some(r) }]
        if error.code == ErrorCode::InvalidSdp && r == "answer")
    );
    // A client offer has no place in this protocol: a typed error, not silence.
    let out = core.handle(
        Input::LocalDescription(Link::Publisher, Description::Offer("o".into())),
        t0,
    );
    assert!(
        matches!(&events(&out)[..], [Event::Error { error, .. }] if error.code == ErrorCode::Internal)
    );
}

#[test]
fn a_kicked_member_leaves_the_list_and_its_tracks_end() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    for kind in [TrackKind::Camera, TrackKind::Microphone] {
        let out = core.handle(remote_track(&grace, kind, 1, true), t0);
        assert_eq!(
            events(&out),
            [Event::TrackStarted {
                member_id: grace.clone(),
                kind
            }]
        );
    }
    let left = Event::MemberLeft {
        member_id: grace.clone(),
        name: "Grace".into(),
        reason: LeaveReason::Kicked,
    };
    let out = core.handle(event(left.clone()), t0);
    assert_eq!(
        media(&out),
        [
            &MediaAction::EndRemote {
                member: grace.clone(),
                kind: TrackKind::Camera
            },
            &MediaAction::EndRemote {
                member: grace.clone(),
                kind: TrackKind::Microphone
            },
            &MediaAction::ForgetMember(grace.clone()),
        ]
    );
    assert_eq!(
        events(&out),
        [
            Event::TrackEnded {
                member_id: grace.clone(),
                kind: TrackKind::Camera
            },
            Event::TrackEnded {
                member_id: grace.clone(),
                kind: TrackKind::Microphone
            },
            left,
        ]
    );
    assert!(core.members().iter().all(|m| m.id != grace));
    // The tracks' RTP ending later says nothing more.
    let out = core.handle(remote_track(&grace, TrackKind::Camera, 1, false), t0);
    assert!(out.is_empty());
}

#[test]
fn another_members_volume_is_set_here_at_once_and_checked_first() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    let half = Playback {
        volume_percent: 50,
        muted: true,
    };
    let set = |member: &MemberId, playback| Command::SetPlayback {
        member: member.clone(),
        playback,
    };
    let out = core.handle(Input::Command(CommandId(1), set(&grace, half)), t0);
    assert!(
        out.iter().all(|o| !matches!(o, Output::Send(_))),
        "local only: {out:?}"
    );
    assert_eq!(
        media(&out),
        [&MediaAction::SetPlayback {
            member: grace.clone(),
            playback: half
        }]
    );
    assert!(matches!(done(&out)[..], [(CommandId(1), Ok(()))]));
    // Not my own voice, not a stranger, not past the mixer's range.
    let too_loud = Playback {
        volume_percent: 201,
        muted: false,
    };
    for (id, command, code) in [
        (
            2,
            set(&MemberId("m1".into()), half),
            ErrorCode::MemberNotFound,
        ),
        (
            3,
            set(&MemberId("m9".into()), half),
            ErrorCode::MemberNotFound,
        ),
        (4, set(&grace, too_loud), ErrorCode::InvalidMessage),
    ] {
        let out = core.handle(Input::Command(CommandId(id), command), t0);
        assert!(media(&out).is_empty(), "{out:?}");
        match &done(&out)[..] {
            [(_, Err(error))] => assert_eq!(error.code(), code, "{error}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_re_share_is_a_new_track_and_the_old_ones_end_does_not_end_it() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    let track = |instance, live| remote_track(&grace, TrackKind::Screen, instance, live);
    core.handle(track(1, true), t0);
    let out = core.handle(
        event(Event::ScreenShareEnded {
            member_id: grace.clone(),
        }),
        t0,
    );
    assert_eq!(events(&out).len(), 2, "track.ended, screenShare.ended");
    let out = core.handle(track(2, true), t0);
    assert!(matches!(&events(&out)[..], [Event::TrackStarted { .. }]));
    assert!(core.handle(track(1, false), t0).is_empty(), "the old track");
    let out = core.handle(track(2, false), t0);
    assert!(matches!(&events(&out)[..], [Event::TrackEnded { .. }]));
}

#[test]
fn others_changes_keep_the_member_list_and_being_kicked_ends_the_session() {
    let (mut core, t0) = in_room(false);
    let mut grace = member("m2", "Grace");
    grace.audio_muted = true;
    core.handle(
        event(Event::MemberUpdated {
            member: grace.clone(),
            updated: vec![MemberField::AudioMuted],
        }),
        t0,
    );
    let linus = member("m3", "Linus");
    core.handle(
        event(Event::MemberJoined {
            member: linus.clone(),
        }),
        t0,
    );
    core.handle(
        event(Event::MemberTalking {
            member_id: linus.id.clone(),
            talking: true,
        }),
        t0,
    );
    let names: Vec<_> = core.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Grace", "Ada", "Linus"]);
    assert!(core.members()[0].audio_muted && core.members()[2].talking);

    let out = core.handle(
        Input::Command(CommandId(1), Command::SetVideoMuted(false)),
        t0,
    );
    sent(&out);
    core.handle(
        event(Event::RoomKicked {
            room: "standup".into(),
            by: MemberId("m2".into()),
            by_name: "Grace".into(),
            reason: None,
        }),
        t0,
    );
    let out = core.handle(
        event(Event::RoomLeft {
            room: "standup".into(),
            reason: LeaveReason::Kicked,
        }),
        t0,
    );
    assert!(matches!(
        &events(&out)[..],
        [Event::RoomLeft {
            reason: LeaveReason::Kicked,
            ..
        }]
    ));
    assert!(matches!(
        done(&out)[..],
        [(CommandId(1), Err(ClientError::SessionEnded))]
    ));
    assert!(matches!(out.last(), Some(Output::Ended)));
}

#[test]
fn talking_is_reported_and_comes_back_as_the_members_own_event() {
    let (mut core, t0) = in_room(false);
    let out = core.handle(Input::Talking(true), t0);
    let (id, request) = sent(&out);
    assert_eq!(request, ClientRequest::SetTalking { talking: true });
    let out = core.handle(ok(id), t0);
    assert_eq!(
        events(&out),
        [Event::MemberTalking {
            member_id: MemberId("m1".into()),
            talking: true
        }]
    );
}

/// The one kind of output that is a [`Output::Connect`].
fn connects(out: &[Output]) -> usize {
    out.iter().filter(|o| matches!(o, Output::Connect)).count()
}

fn numbered(seq: u64, event: Event) -> Input {
    Input::Server(ServerMessage::Event { seq, event })
}

fn chat(text: &str) -> Event {
    Event::ChatMessage {
        from: MemberId("m2".into()),
        from_name: "Grace".into(),
        text: text.into(),
        sent_at_ms: 0,
    }
}

#[test]
fn a_dropped_connection_is_tried_again_and_resumed_with_the_token_and_each_event_once() {
    let (mut core, t0) = in_room(false);
    core.handle(numbered(1, chat("before")), t0);
    let out = core.handle(
        Input::Command(CommandId(1), Command::SetAudioMuted(true)),
        t0,
    );
    sent(&out);
    let out = core.handle(Input::SignalingLost("reset".into()), t0);
    assert_eq!(
        events(&out),
        [Event::RoomReconnecting {
            room: "standup".into(),
            attempt: 1
        }]
    );
    assert_eq!(connects(&out), 1, "the first attempt is at once");
    assert!(
        matches!(done(&out)[..], [(CommandId(1), Err(ClientError::Lost(_)))]),
        "what waited for the server fails: {out:?}"
    );
    assert!(!core.is_ended());
    // Commands meanwhile are refused at once, not queued.
    let out = core.handle(
        Input::Command(CommandId(2), Command::SetVideoMuted(true)),
        t0,
    );
    assert!(matches!(
        done(&out)[..],
        [(CommandId(2), Err(ClientError::Busy(_)))]
    ));
    let out = core.handle(Input::SignalingOpened, t0);
    let (hello, request) = sent(&out);
    assert!(matches!(request, ClientRequest::Hello { .. }));
    let out = core.handle(ok(hello), t0);
    let (resume, request) = sent(&out);
    assert_eq!(
        request,
        ClientRequest::Resume {
            token: "t0ken".into(),
            last_seq: 1
        }
    );
    let members = vec![member("m2", "Grace"), member("m1", "Ada")];
    let resumed = ReplyBody::Resumed {
        room: "standup".into(),
        member_id: MemberId("m1".into()),
        role: Role::Participant,
        members: members.clone(),
        missed: 2,
    };
    let out = core.handle(reply(resume, resumed), t0);
    assert_eq!(
        events(&out),
        [
            Event::RoomReconnected {
                room: "standup".into(),
                resumed: true
            },
            Event::MemberListUpdated { members }
        ]
    );
    // The events missed come once, even if the server sends one twice.
    let mut heard = Vec::new();
    for (seq, text) in [
        (1, "before"),
        (2, "meanwhile"),
        (2, "meanwhile"),
        (3, "after"),
    ] {
        heard.extend(events(&core.handle(numbered(seq, chat(text)), t0)));
    }
    assert_eq!(heard, [chat("meanwhile"), chat("after")]);
    // And the server hears which arrived.
    let later = t0 + ACK_EVERY;
    let out = core.handle(Input::Tick, later);
    assert!(matches!(
        sent(&out).1,
        ClientRequest::Ping { last_seq: Some(3) }
    ));
}

#[test]
fn failed_attempts_wait_longer_and_after_two_minutes_the_member_is_out() {
    let (mut core, t0) = in_room(false);
    assert_eq!(
        connects(&core.handle(Input::SignalingLost("reset".into()), t0)),
        1
    );
    let mut now = t0;
    let mut waits = Vec::new();
    for attempt in 2..=5 {
        let out = core.handle(Input::SignalingLost("refused".into()), now);
        assert_eq!(
            events(&out),
            [Event::RoomReconnecting {
                room: "standup".into(),
                attempt
            }]
        );
        let next = core.next_deadline().unwrap();
        waits.push(next - now);
        assert_eq!(connects(&core.handle(Input::Tick, next)), 1);
        now = next;
    }
    assert_eq!(
        waits,
        [300, 1200, 2000, 2000].map(Duration::from_millis),
        "the schedule: at once, 0.3, 1.2, then every 2 s"
    );
    let out = core.handle(
        Input::SignalingLost("refused".into()),
        t0 + crate::reconnect::GIVE_UP_AFTER,
    );
    assert!(matches!(&events(&out)[..], [
        Event::Error { error, request: None },
        Event::RoomLeft { reason: LeaveReason::Disconnected, .. },
    ] if error.code == ErrorCode::ConnectionFailed));
    assert!(core.is_ended());
}

#[test]
fn a_refused_resume_joins_again_as_new_as_the_member_was() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    core.handle(remote_track(&grace, TrackKind::Camera, 1, true), t0);
    let out = core.handle(
        Input::Command(CommandId(1), Command::SetAudioMuted(true)),
        t0,
    );
    let (mute, _) = sent(&out);
    core.handle(ok(mute), t0);
    core.handle(Input::SignalingLost("server restarted".into()), t0);
    let out = core.handle(Input::SignalingOpened, t0);
    let out = core.handle(ok(sent(&out).0), t0);
    let (resume, _) = sent(&out);
    let out = core.handle(refused(resume, ErrorCode::ResumeFailed), t0);
    assert_eq!(media(&out), [&MediaAction::Reset], "a new media connection");
    assert!(events(&out).contains(&Event::TrackEnded {
        member_id: grace.clone(),
        kind: TrackKind::Camera
    }));
    let (join, request) = sent(&out);
    assert!(
        matches!(&request, ClientRequest::Join(Join { name, audio_muted: true, video_muted: false, returning_participant: true, .. }) if name == "Ada"),
        "the same name and mute state: {request:?}"
    );
    let members = vec![member("m7", "Grace"), member("m8", "Ada")];
    let joined = ReplyBody::Joined {
        room: "standup".into(),
        member_id: MemberId("m8".into()),
        role: Role::Participant,
        members: members.clone(),
        resume_token: Some("n3w".into()),
    };
    let out = core.handle(reply(join, joined), t0);
    assert_eq!(
        events(&out),
        [
            Event::RoomReconnected {
                room: "standup".into(),
                resumed: false
            },
            Event::RoomJoined {
                room: "standup".into(),
                member_id: MemberId("m8".into()),
                role: Role::Participant,
                members
            }
        ]
    );
    assert_eq!(core.me().map(|m| m.id.clone()), Some(MemberId("m8".into())));
}

#[test]
fn commands_before_the_join_completes_are_refused() {
    let t0 = Instant::now();
    let (mut core, _) = SessionCore::new(join_request(&[]), t0);
    let out = core.handle(
        Input::Command(CommandId(1), Command::SetAudioMuted(true)),
        t0,
    );
    assert!(matches!(
        done(&out)[..],
        [(CommandId(1), Err(ClientError::NotJoined))]
    ));
}

#[test]
fn media_state_changes_become_catalog_events() {
    let (mut core, t0) = in_room(false);
    let states = [
        (MediaState::Connected, Event::MediaConnected {}),
        (MediaState::Interrupted, Event::MediaReconnecting {}),
        (MediaState::Lost, Event::MediaDisconnected {}),
    ];
    for (state, expected) in states {
        assert_eq!(
            events(&core.handle(Input::MediaState(state), t0)),
            [expected]
        );
    }
}

#[test]
fn a_snapshot_replays_the_call_as_it_stands_now() {
    let (mut core, t0) = in_room(false);
    let grace = MemberId("m2".into());
    // Grace mutes and her camera arrives; the media connection comes up.
    let mut muted = member("m2", "Grace");
    muted.audio_muted = true;
    core.handle(
        event(Event::MemberUpdated {
            member: muted.clone(),
            updated: vec![MemberField::AudioMuted],
        }),
        t0,
    );
    core.handle(Input::MediaState(MediaState::Connected), t0);
    core.handle(remote_track(&grace, TrackKind::Camera, 1, true), t0);
    let snapshot = core.snapshot();
    assert_eq!(
        snapshot,
        [
            Event::RoomJoined {
                room: "standup".into(),
                member_id: MemberId("m1".into()),
                role: Role::Participant,
                members: vec![muted, member("m1", "Ada")],
            },
            Event::MediaConnected {},
            Event::TrackStarted {
                member_id: grace,
                kind: TrackKind::Camera
            },
        ]
    );
    // Once the call is over there is nothing to replay.
    core.handle(Input::SignalingLost("gone".into()), t0);
    core.handle(
        Input::SignalingLost("gone".into()),
        t0 + crate::reconnect::GIVE_UP_AFTER,
    );
    assert!(core.snapshot().is_empty());
}

#[test]
fn a_stalled_media_connection_asks_for_an_ice_restart_and_a_failed_one_at_once() {
    let (mut core, t0) = in_room(false);
    let restarts = |out: &[Output]| {
        out.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send(ClientMessage {
                        request: ClientRequest::RestartIce {},
                        ..
                    })
                )
            })
            .count()
    };
    assert_eq!(
        restarts(&core.handle(Input::MediaState(MediaState::Interrupted), t0)),
        0
    );
    assert_eq!(core.next_deadline(), Some(t0 + ICE_RESTART_AFTER));
    assert_eq!(
        restarts(&core.handle(Input::Tick, t0 + ICE_RESTART_AFTER)),
        1
    );
    // Still stalled: asked again, but not at once.
    let later = t0 + ICE_RESTART_AFTER + Duration::from_secs(1);
    assert_eq!(restarts(&core.handle(Input::Tick, later)), 0);
    let again = t0 + ICE_RESTART_AFTER + ICE_RESTART_AGAIN;
    assert_eq!(restarts(&core.handle(Input::Tick, again)), 1);
    // Back: nothing more.
    core.handle(Input::MediaState(MediaState::Connected), again);
    assert_eq!(
        restarts(&core.handle(Input::Tick, again + ICE_RESTART_AGAIN)),
        0
    );
    // A failed connection does not wait.
    let failed = again + ICE_RESTART_AGAIN;
    assert_eq!(
        restarts(&core.handle(Input::MediaState(MediaState::Lost), failed)),
        1
    );
}
