//! Calls that survive real networks: a member's link goes away and comes
//! back, in network namespaces the test builds (see `conclave_tests::netns`).
//! Needs root, as CI has.

use std::time::{Duration, Instant};

use conclave_tests::netns::Lab;
use conclave_tests::{Bot, SMALL_VIDEO, Server, ServerOptions};
use serde_json::json;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A server and two members, ann and bob, each on its own subnet behind a router.
struct Office {
    lab: Lab,
    bob_ns: String,
    /// Runs while the office does.
    _server: Server,
    ann: Bot,
    bob: Bot,
}

impl Office {
    fn new(tag: &str, server_args: &[&str]) -> Office {
        let mut lab = Lab::new(tag);
        let router = lab.host("router");
        lab.forward(&router);
        let mut hosts = Vec::new();
        for (name, subnet) in [("server", 10), ("ann", 20), ("bob", 30)] {
            let ns = lab.host(name);
            lab.link(
                &router,
                &format!("192.168.{subnet}.1/24"),
                &ns,
                &format!("192.168.{subnet}.2/24"),
            );
            lab.route(&ns, "192.168.0.0/16", &format!("192.168.{subnet}.1"));
            hosts.push(ns);
        }
        let mut args = vec!["--insecure"];
        args.extend_from_slice(server_args);
        let server = Server::start_opts(ServerOptions {
            netns: Some(&hosts[0]),
            listen: Some("192.168.10.2:0"),
            args: &args,
            ..ServerOptions::default()
        });
        let media = |colour: &'static str, hz: &'static str| {
            let mut args = vec!["--colour", colour, "--tone-hz", hz];
            args.extend_from_slice(SMALL_VIDEO);
            args
        };
        let ann = Bot::join_from(
            Some(&hosts[1]),
            &server,
            "survive",
            "ann",
            &media("#e03030", "400"),
        );
        let mut bob = Bot::join_from(
            Some(&hosts[2]),
            &server,
            "survive",
            "bob",
            &media("#30c030", "600"),
        );
        bob.sees_and_hears(&ann.member_id(), "#e03030", 400.0);
        Office {
            lab,
            bob_ns: hosts[2].clone(),
            _server: server,
            ann,
            bob,
        }
    }

    /// Bob's network drops everything, in and out, as a dead Wi-Fi does.
    fn cut_bob(&self) {
        self.lab.nft(
            &self.bob_ns,
            "table inet outage { chain input { type filter hook input priority -10; drop; }; chain output { type filter hook output priority -10; drop; }; }",
        );
    }

    fn restore_bob(&self) {
        self.lab.nft(&self.bob_ns, "delete table inet outage");
    }
}

/// The chat texts `bot` got, in order.
fn chat_texts(bot: &Bot) -> Vec<String> {
    bot.events("chat.message")
        .iter()
        .map(|event| {
            event["params"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Bob's camera frames from ann, as bob counts them.
fn frames_from(bot: &mut Bot, member: &str) -> u64 {
    bot.summary()[member]["camera_frames"].as_u64().unwrap_or(0)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 5 s outage of bob's link while ann chats: bob comes back as the same
/// member, ann never sees him leave (only reconnecting, then back), the chat
/// sent meanwhile reaches him once and in order, and his media flows again.
/// Then a 40 s outage, past the 30 s grace period: the server removes him,
/// and he joins again as a new member on his own.
#[test]
fn a_member_whose_link_drops_resumes_and_after_the_grace_period_rejoins() {
    let mut office = Office::new("cvout", &[]);
    let (ann_id, bob_id) = (office.ann.member_id(), office.bob.member_id());
    office.cut_bob();
    // The server notices the silence within 4 s, and shows bob as reconnecting.
    let reconnecting = office
        .ann
        .wait_event_from(0, "member.updated", SECS(10), |p| {
            p["member"]["id"] == bob_id.as_str() && p["member"]["reconnecting"] == true
        })
        .expect("ann sees bob reconnecting");
    assert_eq!(reconnecting["params"]["updated"], json!(["reconnecting"]));
    for text in ["one", "two", "three"] {
        office.ann.command(json!({ "cmd": "chat", "text": text }));
    }
    std::thread::sleep(SECS(1));
    office.restore_bob();
    let back = office
        .bob
        .wait_event("room.reconnected", SECS(10))
        .expect("bob is back");
    assert_eq!(back["params"]["resumed"], true, "{back}");
    assert_eq!(office.bob.events("room.joined").len(), 1, "no second join");
    wait_for("bob has the chat", SECS(5), || {
        chat_texts(&office.bob).len() >= 3
    });
    assert_eq!(
        chat_texts(&office.bob),
        ["one", "two", "three"],
        "once each, in order"
    );
    assert!(
        office.ann.events("member.left").is_empty(),
        "ann never saw bob leave"
    );
    let frames = frames_from(&mut office.bob, &ann_id);
    wait_for("ann's video reaches bob again", SECS(15), || {
        frames_from(&mut office.bob, &ann_id) >= frames + 30
    });

    // 40 s: past the grace period.
    office.cut_bob();
    std::thread::sleep(SECS(40));
    let left = office
        .ann
        .wait_event("member.left", SECS(5))
        .expect("the server removed bob after the grace period");
    assert_eq!(left["params"]["member_id"], bob_id.as_str());
    assert_eq!(left["params"]["reason"], "disconnected");
    office.restore_bob();
    let rejoined = office
        .bob
        .wait_event_from(0, "room.reconnected", SECS(15), |p| p["resumed"] == false)
        .expect("bob joins again as new");
    assert_eq!(rejoined["params"]["room"], "survive");
    let joined_again = office
        .ann
        .wait_event_from(0, "member.joined", SECS(10), |p| {
            p["member"]["name"] == "bob" && p["member"]["id"] != bob_id.as_str()
        })
        .expect("ann sees bob join again");
    let new_id = joined_again["params"]["member"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    office.ann.sees_and_hears(&new_id, "#30c030", 600.0);
    drop(office.lab);
}
