//! A real room: a real server, real bots, real WebRTC on loopback.
//! Each test asserts what a person in the call would notice.

use std::time::{Duration, Instant};

use conclave_media::tone_power;
use conclave_tests::pulse::{Microphone, PulseModule, record};
use conclave_tests::{Bot, SMALL_VIDEO, Server, colour_distance};
use serde_json::json;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A member with its own colour and pitch, so the receiver can tell whose media it got.
struct Who {
    name: &'static str,
    colour: &'static str,
    hz: f64,
}

const ALICE: Who = Who {
    name: "alice",
    colour: "#e03030",
    hz: 400.0,
};
const BOB: Who = Who {
    name: "bob",
    colour: "#30c030",
    hz: 600.0,
};
const CAROL: Who = Who {
    name: "carol",
    colour: "#3060e0",
    hz: 850.0,
};

fn join(server: &Server, room: &str, who: &Who, extra: &[&str]) -> Bot {
    let hz = who.hz.to_string();
    let mut args = vec!["--colour", who.colour, "--tone-hz", &hz];
    args.extend_from_slice(SMALL_VIDEO);
    args.extend_from_slice(extra);
    Bot::join(server, room, who.name, &args)
}

#[test]
fn three_members_see_and_hear_each_other() {
    let server = Server::start();
    let mut bots: Vec<Bot> = [&ALICE, &BOB, &CAROL]
        .iter()
        .map(|who| join(&server, "trio", who, &[]))
        .collect();
    let ids: Vec<String> = bots.iter().map(Bot::member_id).collect();
    let people = [&ALICE, &BOB, &CAROL];
    for (i, bot) in bots.iter_mut().enumerate() {
        for (j, other) in people.iter().enumerate() {
            if i == j {
                continue;
            }
            bot.sees_and_hears(&ids[j], other.colour, other.hz);
        }
        assert!(
            bot.summary().get(&ids[i]).is_none(),
            "{} receives its own media back",
            bot.name
        );
    }
}

#[test]
fn a_member_that_receives_none_gets_no_media_while_its_own_reaches_the_others() {
    let server = Server::start();
    let mut alice = join(&server, "load", &ALICE, &[]);
    let mut load = join(&server, "load", &CAROL, &["--receive", "none"]);
    let mut bob = join(&server, "load", &BOB, &[]);
    let (alice_id, load_id) = (alice.member_id(), load.member_id());
    // The member that receives nothing still publishes: both others get it.
    for receiver in [&mut alice, &mut bob] {
        let got = receiver.wait_media(&load_id, "camera", 20, SECS(20));
        let colour = got["camera_mean_colour"].as_str().unwrap();
        assert!(colour_distance(colour, CAROL.colour) <= 30, "saw {colour}");
        receiver.wait_media(&load_id, "microphone", 30, SECS(20));
    }
    // A normal member receives the other normal one.
    bob.wait_media(&alice_id, "camera", 20, SECS(20));
    bob.wait_media(&alice_id, "microphone", 30, SECS(20));
    // By now alice's and bob's media has flowed for seconds: none reached it.
    let summary = load.summary();
    assert_eq!(
        summary,
        json!({}),
        "a member with --receive none got remote media"
    );
}

/// Counts what `receiver` got of `member`'s `counter` over `window`.
fn growth(receiver: &mut Bot, member: &str, counter: &str, window: Duration) -> u64 {
    let before = receiver.summary()[member][counter].as_u64().unwrap_or(0);
    std::thread::sleep(window);
    let after = receiver.summary()[member][counter].as_u64().unwrap_or(0);
    after - before
}

#[test]
fn mute_and_unmute_stop_and_restart_media_and_tell_the_room() {
    let server = Server::start();
    let mut alice = join(&server, "mute", &ALICE, &[]);
    let mut bob = join(&server, "mute", &BOB, &[]);
    let alice_id = alice.member_id();
    bob.wait_media(&alice_id, "camera", 10, SECS(15));
    bob.wait_media(&alice_id, "microphone", 30, SECS(15));

    // Audio.
    let from = bob.lines.len();
    assert_eq!(alice.command(json!({ "cmd": "mute_audio" }))["ok"], true);
    let updated = bob
        .wait_event_from(from, "member.updated", SECS(5), |p| {
            p["member"]["id"] == alice_id.as_str()
        })
        .expect("bob learns alice muted");
    assert_eq!(updated["params"]["member"]["audio_muted"], true);
    assert_eq!(updated["params"]["member"]["video_muted"], false);
    assert_eq!(updated["params"]["updated"], json!(["audio_muted"]));
    std::thread::sleep(Duration::from_millis(500)); // packets already in flight
    assert_eq!(
        growth(&mut bob, &alice_id, "microphone_packets", SECS(2)),
        0,
        "muted audio still flows"
    );
    assert!(
        growth(&mut bob, &alice_id, "camera_frames", SECS(1)) > 5,
        "video stopped with the audio"
    );

    let from = bob.lines.len();
    alice.command(json!({ "cmd": "unmute_audio" }));
    let updated = bob
        .wait_event_from(from, "member.updated", SECS(5), |p| {
            p["member"]["id"] == alice_id.as_str()
        })
        .unwrap();
    assert_eq!(updated["params"]["member"]["audio_muted"], false);
    assert!(
        growth(&mut bob, &alice_id, "microphone_packets", SECS(2)) > 50,
        "unmuted audio does not flow"
    );
    let hz = bob.summary()[&alice_id]["tone_hz"].as_f64().unwrap();
    assert!(
        (hz - ALICE.hz).abs() < 3.0,
        "after unmute bob hears {hz} Hz"
    );

    // Video.
    let from = bob.lines.len();
    alice.command(json!({ "cmd": "mute_video" }));
    let updated = bob
        .wait_event_from(from, "member.updated", SECS(5), |p| {
            p["member"]["id"] == alice_id.as_str()
        })
        .unwrap();
    assert_eq!(updated["params"]["member"]["video_muted"], true);
    assert_eq!(updated["params"]["updated"], json!(["video_muted"]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        growth(&mut bob, &alice_id, "camera_frames", SECS(2)),
        0,
        "camera-off video still flows"
    );

    let from = bob.lines.len();
    alice.command(json!({ "cmd": "unmute_video" }));
    let updated = bob
        .wait_event_from(from, "member.updated", SECS(5), |p| {
            p["member"]["id"] == alice_id.as_str()
        })
        .unwrap();
    assert_eq!(updated["params"]["member"]["video_muted"], false);
    assert!(
        growth(&mut bob, &alice_id, "camera_frames", SECS(2)) > 10,
        "video does not come back after camera on"
    );
}

#[test]
fn screen_share_reaches_the_others_and_goes_away_on_stop() {
    let server = Server::start();
    let mut alice = join(&server, "share", &ALICE, &[]);
    let mut bob = join(&server, "share", &BOB, &[]);
    let mut carol = join(&server, "share", &CAROL, &[]);
    let alice_id = alice.member_id();

    let (bob_from, carol_from) = (bob.lines.len(), carol.lines.len());
    assert_eq!(alice.command(json!({ "cmd": "share" }))["ok"], true);
    for (viewer, from) in [(&mut bob, bob_from), (&mut carol, carol_from)] {
        viewer
            .wait_event_from(from, "screenShare.started", SECS(5), |p| {
                p["member_id"] == alice_id.as_str()
            })
            .expect("screenShare.started");
        viewer
            .wait_event_from(from, "track.started", SECS(10), |p| {
                p["member_id"] == alice_id.as_str() && p["kind"] == "screen"
            })
            .expect("screen track");
        let got = viewer.wait_media(&alice_id, "screen", 5, SECS(15));
        assert!(
            got["screen_looks_like_screen"].as_bool().unwrap(),
            "{} got a screen track without the synthetic screen: {got}",
            viewer.name
        );
        // The camera keeps going beside the screen.
        assert!(got["camera_frames"].as_u64().unwrap() > 0);
    }

    let from = bob.lines.len();
    assert_eq!(alice.command(json!({ "cmd": "unshare" }))["ok"], true);
    bob.wait_event_from(from, "screenShare.ended", SECS(5), |p| {
        p["member_id"] == alice_id.as_str()
    })
    .expect("screenShare.ended");
    bob.wait_event_from(from, "track.ended", SECS(5), |p| {
        p["member_id"] == alice_id.as_str() && p["kind"] == "screen"
    })
    .expect("track.ended");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        growth(&mut bob, &alice_id, "screen_packets", SECS(2)),
        0,
        "screen still flows after stop"
    );

    // Sharing again works, with the same content.
    let from = bob.lines.len();
    alice.command(json!({ "cmd": "share" }));
    bob.wait_event_from(from, "screenShare.started", SECS(5), |_| true)
        .expect("second share");
    assert!(
        growth(&mut bob, &alice_id, "screen_frames", SECS(3)) > 3,
        "second share shows nothing"
    );
}

#[test]
fn chat_reaches_everyone_and_a_whisper_only_its_target() {
    let server = Server::start();
    let mut alice = join(&server, "chat", &ALICE, &["--no-camera"]);
    let bob = join(&server, "chat", &BOB, &["--no-camera"]);
    let carol = join(&server, "chat", &CAROL, &["--no-camera"]);
    let bob_id = bob.member_id();

    assert_eq!(
        alice.command(json!({ "cmd": "chat", "text": "hello room" }))["ok"],
        true
    );
    for bot in [&alice, &bob, &carol] {
        let got = bot
            .wait_event("chat.message", SECS(5))
            .unwrap_or_else(|| panic!("{} missed the chat", bot.name));
        assert_eq!(got["params"]["text"], "hello room");
        assert_eq!(got["params"]["from_name"], "alice");
    }

    assert_eq!(
        alice.command(json!({ "cmd": "whisper", "to": bob_id, "text": "psst bob" }))["ok"],
        true
    );
    let got = bob
        .wait_event("chat.whisper", SECS(5))
        .expect("bob gets the whisper");
    assert_eq!(got["params"]["text"], "psst bob");
    assert_eq!(got["params"]["to"], bob_id.as_str());
    // Let anything misrouted arrive, then check carol got nothing.
    std::thread::sleep(SECS(1));
    let leaked: Vec<_> = carol
        .lines
        .all()
        .into_iter()
        .filter(|v| v.to_string().contains("psst"))
        .collect();
    assert!(leaked.is_empty(), "carol saw the whisper: {leaked:?}");
}

#[test]
fn a_moderator_ends_the_meeting_for_everyone_and_a_participant_cannot() {
    let server = Server::start();
    let mut alice = join(
        &server,
        "ending",
        &ALICE,
        &["--no-camera", "--no-microphone"],
    );
    let mut bob = join(&server, "ending", &BOB, &["--no-camera", "--no-microphone"]);
    let carol = join(
        &server,
        "ending",
        &CAROL,
        &["--no-camera", "--no-microphone"],
    );
    let reply = bob.command(json!({ "cmd": "end_room" }));
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "not_moderator");
    assert!(alice.events("room.left").is_empty());

    let reply = alice.command(json!({ "cmd": "end_room" }));
    assert_eq!(reply["ok"], true, "{reply}");
    for bot in [&alice, &bob, &carol] {
        let left = bot
            .wait_event("room.left", SECS(5))
            .unwrap_or_else(|| panic!("{} is still in the ended meeting", bot.name));
        assert_eq!(left["params"]["reason"], "ended", "{}: {left}", bot.name);
    }
}

#[test]
fn a_server_that_is_stopped_ends_its_meetings_first() {
    let mut server = Server::start();
    let quiet = ["--no-camera", "--no-microphone"];
    let alice = join(&server, "stopping", &ALICE, &quiet);
    let bob = join(&server, "other", &BOB, &quiet);
    let pid = server.pid().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(stopped.is_ok_and(|s| s.success()));
    for bot in [&alice, &bob] {
        let left = bot
            .wait_event("room.left", SECS(5))
            .unwrap_or_else(|| panic!("{} never heard the meeting end", bot.name));
        assert_eq!(left["params"]["reason"], "ended", "{}: {left}", bot.name);
    }
    assert!(
        server.wait_exit(SECS(5)).is_some_and(|s| s.success()),
        "the server exits cleanly after SIGTERM"
    );
}

#[test]
fn moderators_can_kick_and_participants_cannot() {
    let server = Server::start();
    let mut alice = join(&server, "kick", &ALICE, &[]); // first: moderator
    let mut bob = join(&server, "kick", &BOB, &[]);
    let carol = join(&server, "kick", &CAROL, &[]);
    let (alice_id, carol_id) = (alice.member_id(), carol.member_id());
    assert_eq!(
        alice.wait_event("room.joined", SECS(1)).unwrap()["params"]["role"],
        "moderator"
    );
    assert_eq!(
        bob.wait_event("room.joined", SECS(1)).unwrap()["params"]["role"],
        "participant"
    );
    bob.wait_media(&carol_id, "camera", 5, SECS(15));

    // A participant may not.
    let reply = bob.command(json!({ "cmd": "kick", "member_id": alice_id }));
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "not_moderator");
    assert!(
        bob.wait_event("error", SECS(1)).is_none(),
        "the refusal is reported once, as the command's reply, not also as an error event"
    );
    assert!(alice.events("room.kicked").is_empty());

    // A moderator may.
    let from = bob.lines.len();
    assert_eq!(
        alice.command(json!({ "cmd": "kick", "member_id": carol_id, "reason": "testing" }))["ok"],
        true
    );
    let kicked = carol
        .wait_event("room.kicked", SECS(5))
        .expect("carol is told");
    assert_eq!(kicked["params"]["by"], alice_id.as_str());
    let left = carol
        .wait_event("room.left", SECS(5))
        .expect("carol leaves");
    assert_eq!(left["params"]["reason"], "kicked");
    let gone = bob
        .wait_event_from(from, "member.left", SECS(5), |p| {
            p["member_id"] == carol_id.as_str()
        })
        .expect("bob sees carol go");
    assert_eq!(gone["params"]["reason"], "kicked");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        growth(&mut bob, &carol_id, "camera_packets", SECS(2)),
        0,
        "a kicked member's media still flows"
    );
}

/// A leave is seen at once; a killed process is seen reconnecting within
/// 5 s, and gone once its grace period (2 s here) has passed.
#[test]
fn leaving_and_a_killed_process_are_seen_within_five_seconds() {
    let server = Server::start_with(&["--reconnect-grace", "2s"]);
    let mut alice = join(&server, "leave", &ALICE, &[]);
    let mut bob = join(&server, "leave", &BOB, &[]);
    let mut carol = join(&server, "leave", &CAROL, &[]);
    let (bob_id, carol_id) = (bob.member_id(), carol.member_id());
    alice.wait_media(&bob_id, "camera", 5, SECS(15));

    let from = alice.lines.len();
    bob.send(json!({ "cmd": "leave" }));
    let left = alice
        .wait_event_from(from, "member.left", SECS(5), |p| {
            p["member_id"] == bob_id.as_str()
        })
        .expect("leave seen within 5 s");
    assert_eq!(left["params"]["reason"], "left");
    alice
        .wait_event_from(from, "track.ended", SECS(5), |p| {
            p["member_id"] == bob_id.as_str()
        })
        .expect("bob's tracks end");

    let from = alice.lines.len();
    let killed_at = Instant::now();
    carol.kill();
    alice
        .wait_event_from(from, "member.updated", SECS(5), |p| {
            p["member"]["id"] == carol_id.as_str() && p["member"]["reconnecting"] == true
        })
        .expect("a killed member is seen reconnecting within 5 s");
    assert!(killed_at.elapsed() < SECS(5));
    let left = alice
        .wait_event_from(from, "member.left", SECS(5), |p| {
            p["member_id"] == carol_id.as_str()
        })
        .expect("and gone after its grace period");
    assert_eq!(left["params"]["reason"], "disconnected");
    alice
        .wait_event_from(from, "memberList.updated", SECS(2), |p| {
            p["members"].as_array().is_some_and(|m| m.len() == 1)
        })
        .expect("the list is alice alone");
}

#[test]
fn a_member_whose_microphone_is_missing_is_told_so_and_the_room_is_untouched() {
    let server = Server::start();
    let alice = join(&server, "devices", &ALICE, &[]);
    let out = std::process::Command::new(conclave_tests::binary("conclave-bot"))
        .args([
            "--server",
            &server.url,
            "--room",
            "devices",
            "--name",
            "bob",
        ])
        .args(["--microphone", "pulse:no-such-source", "--duration", "5"])
        .output()
        .expect("run conclave-bot");
    assert_eq!(out.status.code(), Some(2), "a device error ends the bot");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap_or(""))
        .unwrap_or_else(|_| panic!("a JSON error line, got {stdout:?}"));
    assert_eq!(error["event"], "error");
    assert_eq!(error["params"]["request"], "microphone");
    assert_eq!(error["params"]["error"]["code"], "device_not_found");
    // Bob never joined: alice saw no one come.
    assert!(alice.events("member.joined").is_empty());
}

/// A microphone that hears a sine at `hz`.
fn fake_microphone(name: &str, hz: f64) -> (Microphone, PulseModule) {
    let microphone = Microphone::load(name);
    let sine = microphone.sine(hz);
    (microphone, sine)
}

#[test]
fn a_microphone_that_vanishes_mid_call_falls_back_as_in_the_app() {
    // Two real microphones with their own pitches (needs PulseAudio; scripts/test.sh starts it).
    let tag = std::process::id();
    let (first, second) = (
        format!("conclave_fb_a_{tag}"),
        format!("conclave_fb_b_{tag}"),
    );
    let (first_source, _first_sine) = fake_microphone(&first, 500.0);
    let (second_source, _second_sine) = fake_microphone(&second, 700.0);
    let server = Server::start();
    let mic = format!("pulse:{first}");
    let alice = join(
        &server,
        "fallback",
        &ALICE,
        &["--no-camera", "--microphone", &mic],
    );
    let mut bob = join(&server, "fallback", &BOB, &["--no-camera"]);
    let alice_id = alice.member_id();
    bob.wait_pitch(&alice_id, 500.0, SECS(15));

    // The first microphone goes away mid-call: alice says so and falls back to the other one.
    let from = alice.lines.len();
    first_source.unplug();
    let gone = alice
        .wait_event_from(from, "microphone.disconnected", SECS(10), |_| true)
        .expect("alice reports her microphone gone");
    assert_eq!(gone["params"]["device"]["id"], mic.as_str());
    assert_eq!(
        gone["params"]["fallback"]["id"],
        format!("pulse:{second}").as_str(),
        "the next real microphone, never a monitor or the tone: {gone}"
    );
    let updated = alice
        .wait_event_from(from, "microphone.updated", SECS(5), |_| true)
        .expect("microphone.updated after the fallback");
    assert_eq!(updated["params"]["previous"]["id"], mic.as_str());
    assert_eq!(updated["params"]["current"], gone["params"]["fallback"]);
    // The call goes on, on the other microphone.
    bob.wait_pitch(&alice_id, 700.0, SECS(15));
    let muted = |v: &serde_json::Value| {
        v["params"]["member"]["id"] == alice_id.as_str()
            && v["params"]["member"]["audio_muted"] == true
    };
    assert!(
        !bob.events("member.updated").iter().any(muted),
        "alice stays unmuted"
    );

    // The last real microphone goes too: with nothing to fall back to, alice is muted.
    let (alice_from, bob_from) = (alice.lines.len(), bob.lines.len());
    second_source.unplug();
    let gone = alice
        .wait_event_from(alice_from, "microphone.disconnected", SECS(10), |_| true)
        .expect("alice reports her second microphone gone");
    if !gone["params"]["fallback"].is_null() {
        // Another real source on this PulseAudio (someone else's): nothing more to see here.
        eprintln!("skipped the mute check: alice fell back to {gone}");
        return;
    }
    bob.wait_event_from(bob_from, "member.updated", SECS(5), |p| {
        p["member"]["id"] == alice_id.as_str() && p["member"]["audio_muted"] == true
    })
    .expect("bob learns alice is muted");
}

/// How loud each of `members` (by pitch) plays on `speaker`, in dB, over
/// one second recorded from its monitor.
fn loudness_on(speaker: &str, members: &[&Who]) -> Vec<f64> {
    let heard = record(&format!("{speaker}.monitor"), 1.0);
    (members.iter())
        .map(|who| 10.0 * tone_power(&heard, who.hz, 48_000).max(1e-3).log10())
        .collect()
}

#[test]
fn a_member_turned_down_or_muted_for_me_is_quieter_here_only() {
    let server = Server::start();
    let speaker = format!("conclave_playback_{}_carol_speaker", std::process::id());
    let _sink = PulseModule::load(&["module-null-sink", &format!("sink_name={speaker}")]);
    let mut alice = join(&server, "playback", &ALICE, &["--no-camera"]);
    let mut bob = join(&server, "playback", &BOB, &["--no-camera"]);
    let carol_speaker = format!("pulse:{speaker}");
    let mut carol = join(
        &server,
        "playback",
        &CAROL,
        &[
            "--no-camera",
            "--no-microphone",
            "--speaker",
            &carol_speaker,
        ],
    );
    let (alice_id, bob_id) = (alice.member_id(), bob.member_id());
    carol.wait_media(&alice_id, "microphone", 30, SECS(15));
    carol.wait_media(&bob_id, "microphone", 30, SECS(15));
    let playback = |carol: &mut Bot, member: &str, volume_percent: u16, muted: bool| {
        carol.command(json!({
            "cmd": "playback", "member_id": member,
            "volume_percent": volume_percent, "muted": muted,
        }))
    };
    let loudness = || {
        // The change plays from the next mix; what was queued before it, within 100 ms.
        std::thread::sleep(Duration::from_millis(300));
        loudness_on(&speaker, &[&ALICE, &BOB])
    };
    // A second with a gap in the playout (a busy machine) is quieter for
    // everyone: the loudest of three seconds is what carol hears.
    let loudness = || {
        (0..3)
            .map(|_| loudness())
            .fold(
                vec![f64::MIN; 2],
                |best, now| {
                    if now[1] > best[1] { now } else { best }
                },
            )
    };
    // As sent, once the playout has settled: two seconds in a row agree.
    let mut before = loudness();
    for _ in 0..10 {
        let again = loudness();
        let settled = (again[0] - before[0]).abs() <= 1.0 && (again[1] - before[1]).abs() <= 1.0;
        before = again;
        if settled {
            break;
        }
    }
    assert_eq!(playback(&mut carol, &alice_id, 50, false)["ok"], true);
    let half = loudness();
    assert_eq!(playback(&mut carol, &alice_id, 50, true)["ok"], true);
    let muted = loudness();
    eprintln!(
        "carol hears alice, bob at {before:.1?} dB; alice at 50%: {half:.1?}; muted: {muted:.1?}"
    );
    assert!(
        (before[0] - half[0] - 6.0).abs() <= 1.5,
        "alice at 50% is {:.1} dB quieter, not 6",
        before[0] - half[0]
    );
    assert!(
        before[0] - muted[0] >= 30.0,
        "alice muted for carol is only {:.1} dB quieter",
        before[0] - muted[0]
    );
    for (at, now) in [("half", &half), ("muted", &muted)] {
        assert!(
            (now[1] - before[1]).abs() <= 1.5,
            "bob's volume changed with alice {at}: {now:?}"
        );
    }
    // Only carol: bob still hears alice, at her pitch.
    let heard = bob.wait_media(&alice_id, "microphone", 30, SECS(5))["tone_hz"].as_f64();
    assert!(
        heard.is_some_and(|hz| (hz - ALICE.hz).abs() <= 3.0),
        "bob hears alice at {heard:?} Hz"
    );
    // Unmuted, she is back at the volume carol chose.
    assert_eq!(playback(&mut carol, &alice_id, 50, false)["ok"], true);
    let back = loudness();
    assert!(
        (back[0] - half[0]).abs() <= 1.5,
        "{back:?} against {half:?}"
    );
    // Carol cannot set her own volume, a stranger's, or one the mixer cannot play.
    let carol_id = carol.member_id();
    for (member, volume, code) in [
        (carol_id.as_str(), 50, "member_not_found"),
        ("m999", 50, "member_not_found"),
        (alice_id.as_str(), 201, "invalid_message"),
    ] {
        let reply = playback(&mut carol, member, volume, false);
        assert_eq!(reply["error"]["code"], code, "{reply}");
    }
    // When alice leaves, carol forgets her volume, and a command for her fails.
    assert_eq!(alice.command(json!({ "cmd": "leave" }))["ok"], true);
    let gone = (0..40).find(|_| {
        std::thread::sleep(Duration::from_millis(250));
        playback(&mut carol, &alice_id, 50, false)["error"]["code"] == "member_not_found"
    });
    assert!(
        gone.is_some(),
        "carol can still set alice's volume after she left"
    );
}
