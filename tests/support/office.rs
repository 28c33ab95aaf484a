//! An office LAN for the tests of calls that survive real networks: a
//! server and two members, ann and bob, in network namespaces (see
//! [`crate::netns`]), with bob's link to cut, make lossy, or move.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::netns::Lab;
use crate::{Bot, Server, ServerOptions};

/// A server and two members, ann and bob, each on its own subnet behind a router.
pub struct Office {
    pub lab: Lab,
    pub router: String,
    pub bob_ns: String,
    /// Bob's cable: its end in the router, its end in bob's namespace.
    pub bob_link: (String, String),
    /// Runs while the office does.
    _server: Server,
    pub ann: Bot,
    pub bob: Bot,
}

impl Office {
    pub fn new(tag: &str, server_args: &[&str]) -> Office {
        Office::at_fps(tag, server_args, "15")
    }

    /// With ann's and bob's cameras at `fps` (320×180).
    pub fn at_fps(tag: &str, server_args: &[&str], fps: &'static str) -> Office {
        let mut lab = Lab::new(tag);
        let router = lab.host("router");
        lab.forward(&router);
        let mut hosts = Vec::new();
        let mut links = Vec::new();
        for (name, subnet) in [("server", 10), ("ann", 20), ("bob", 30)] {
            let (ns, link) = lab.host_behind(&router, name, subnet);
            hosts.push(ns);
            links.push(link);
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
            args.extend(["--width", "320", "--height", "180", "--bitrate-kbps", "300"]);
            args.extend(["--fps", fps]);
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
            router,
            bob_ns: hosts[2].clone(),
            bob_link: links[2].clone(),
            _server: server,
            ann,
            bob,
        }
    }

    /// Bob's network drops everything, in and out, as a dead Wi-Fi does.
    pub fn cut_bob(&self) {
        self.lab.nft(
            &self.bob_ns,
            "table inet outage { chain input { type filter hook input priority -10; drop; }; chain output { type filter hook output priority -10; drop; }; }",
        );
    }

    pub fn restore_bob(&self) {
        self.lab.nft(&self.bob_ns, "delete table inet outage");
    }

    /// Bob's link loses `percent` % of its UDP packets (the media), each way, at random.
    pub fn lossy_bob(&self, percent: u32) {
        let drop = format!("meta l4proto udp numgen random mod 100 < {percent} drop;");
        self.lab.nft(
            &self.bob_ns,
            &format!(
                "table inet loss {{ chain input {{ type filter hook input priority -5; {drop} }}; chain output {{ type filter hook output priority -5; {drop} }}; }}"
            ),
        );
    }

    pub fn clear_loss(&self) {
        self.lab.nft(&self.bob_ns, "delete table inet loss");
    }

    /// What ann gets of bob's camera over `window`: frames decoded against
    /// frames bob sent, freezes per minute, and the pitch of bob's tone.
    pub fn ann_watches_bob(&mut self, window: Duration) -> serde_json::Value {
        let bob_id = self.bob.member_id();
        let sent = |office: &mut Office| {
            office.bob.report()["sent"]["camera_frames"]
                .as_u64()
                .unwrap_or(0)
        };
        let seen = |office: &mut Office| office.ann.summary()[bob_id.as_str()].clone();
        let (sent0, seen0) = (sent(self), seen(self));
        std::thread::sleep(window);
        let (sent1, seen1) = (sent(self), seen(self));
        let count = |key: &str| seen1[key].as_u64().unwrap_or(0) - seen0[key].as_u64().unwrap_or(0);
        let minutes = window.as_secs_f64() / 60.0;
        json!({
            "seconds": window.as_secs(),
            "frames_sent": sent1 - sent0,
            "frames_decoded": count("camera_frames"),
            "freezes_per_minute": count("camera_freezes") as f64 / minutes,
            "frozen_ms": count("camera_frozen_ms"),
            "tone_hz": seen1["tone_hz"],
        })
    }

    /// Bob's machine moves to another network: 192.168.30.2 is gone, and he
    /// is 192.168.31.2 behind the same router.
    pub fn move_bob(&self) {
        let (router_end, bob_end) = &self.bob_link;
        self.lab
            .address(&self.router, "192.168.31.1/24", router_end);
        self.lab.unaddress(&self.bob_ns, "192.168.30.2/24", bob_end);
        self.lab.address(&self.bob_ns, "192.168.31.2/24", bob_end);
        self.lab
            .route(&self.bob_ns, "192.168.0.0/16", "192.168.31.1");
    }
}

/// The camera frames `bot` decoded of `member`.
pub fn frames_from(bot: &mut Bot, member: &str) -> u64 {
    bot.summary()[member]["camera_frames"].as_u64().unwrap_or(0)
}

pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
