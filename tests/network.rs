//! Meetings across simulated networks: the server and its members in Linux
//! network namespaces that each test builds and removes (see
//! `conclave_tests::netns`). Needs root, as CI has.

use std::time::Duration;

use conclave_tests::netns::Lab;
use conclave_tests::{Bot, SMALL_VIDEO, Server, ServerOptions, colour_distance};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// `bot` sees `member`'s camera in `colour` and hears its tone at `hz`.
fn sees_and_hears(bot: &mut Bot, member: &str, colour: &str, hz: f64) {
    let got = bot.wait_media(member, "camera", 20, SECS(20));
    let seen = got["camera_mean_colour"].as_str().unwrap_or_default();
    assert!(
        colour_distance(seen, colour) <= 30,
        "{} saw {member} as {seen}, sent {colour}",
        bot.name
    );
    let got = bot.wait_media(member, "microphone", 60, SECS(20));
    let heard = got["tone_hz"].as_f64().unwrap_or(0.0);
    assert!(
        (heard - hz).abs() < 3.0,
        "{} heard {member} at {heard} Hz, sent {hz} Hz",
        bot.name
    );
}

/// An offline meeting-room LAN: the server and two members on three subnets
/// joined by a router, and no host has a default route (nothing leaves it).
/// WebRTC's multicast DNS socket cannot even be opened there (no route for
/// 224.0.0.251), which used to fail every join.
#[test]
fn members_meet_on_a_lan_with_no_default_route() {
    let mut lab = Lab::new("cvlan");
    let router = lab.host("router");
    let server_ns = lab.host("server");
    let (ann_ns, bob_ns) = (lab.host("ann"), lab.host("bob"));
    lab.forward(&router);
    for (ns, subnet) in [(&server_ns, 10), (&ann_ns, 20), (&bob_ns, 30)] {
        lab.link(
            &router,
            &format!("192.168.{subnet}.1/24"),
            ns,
            &format!("192.168.{subnet}.2/24"),
        );
        // The other subnets, through the router: the whole LAN, and no further.
        lab.route(ns, "192.168.0.0/16", &format!("192.168.{subnet}.1"));
        assert!(!lab.has_default_route(ns));
    }
    let server = Server::start_opts(ServerOptions {
        netns: Some(&server_ns),
        listen: Some("192.168.10.2:0"),
        // A LAN test of media, not of TLS: plain text, asked for.
        args: &["--insecure"],
        ..ServerOptions::default()
    });
    let args = |colour: &'static str, hz: &'static str| {
        let mut args = vec!["--colour", colour, "--tone-hz", hz];
        args.extend_from_slice(SMALL_VIDEO);
        args
    };
    let mut ann = Bot::join_from(
        Some(&ann_ns),
        &server,
        "offline",
        "ann",
        &args("#e03030", "400"),
    );
    let mut bob = Bot::join_from(
        Some(&bob_ns),
        &server,
        "offline",
        "bob",
        &args("#30c030", "600"),
    );
    let (ann_id, bob_id) = (ann.member_id(), bob.member_id());
    sees_and_hears(&mut ann, &bob_id, "#30c030", 600.0);
    sees_and_hears(&mut bob, &ann_id, "#e03030", 400.0);
}
