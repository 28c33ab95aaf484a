//! Meetings across simulated networks: the server and its members in Linux
//! network namespaces that each test builds and removes (see
//! `conclave_tests::netns`). Needs root, as CI has.

use std::time::Duration;

use conclave_tests::certs::ServerCert;
use conclave_tests::netns::Lab;
use conclave_tests::{Bot, SMALL_VIDEO, Server, ServerOptions};

const SECS: fn(u64) -> Duration = Duration::from_secs;

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
    ann.sees_and_hears(&bob_id, "#30c030", 600.0);
    bob.sees_and_hears(&ann_id, "#e03030", 400.0);
}

/// A simulated internet: an `inet` router joining three networks, each
/// behind a NAT router of its own.
/// - `cloud`, 1:1 NAT as on most cloud machines: its public address
///   203.0.113.10 maps to the server's private 10.0.0.2 (nft `dnat` in,
///   `snat` out);
/// - `homeann`, `homebob` and `homecarol`, home routers that `masquerade`
///   ann (192.168.1.2), bob (192.168.2.2) and carol (192.168.3.2); carol's
///   also drops all UDP, as some corporate and hotel networks do.
///
/// No private address is routed across `inet`.
struct Internet {
    lab: Lab,
    cloud: String,
    server: String,
    ann: String,
    bob: String,
    carol: String,
}

impl Internet {
    fn new(tag: &str) -> Internet {
        let mut lab = Lab::new(tag);
        let inet = lab.host("inet");
        lab.forward(&inet);
        let cloud = lab.host("cloud");
        let server = lab.host("server");
        let (_, cloud_public) = lab.link(&inet, "203.0.113.1/24", &cloud, "203.0.113.2/24");
        // The server's public address lives on the cloud router, which maps it.
        lab.address(&cloud, "203.0.113.10/24", &cloud_public);
        lab.route(&cloud, "default", "203.0.113.1");
        lab.forward(&cloud);
        lab.link(&cloud, "10.0.0.1/24", &server, "10.0.0.2/24");
        lab.route(&server, "default", "10.0.0.1");
        lab.nft(
            &cloud,
            "table ip nat {
                chain inbound { type nat hook prerouting priority -100; ip daddr 203.0.113.10 dnat to 10.0.0.2; }
                chain outbound { type nat hook postrouting priority 100; ip saddr 10.0.0.2 snat to 203.0.113.10; }
            }",
        );
        let mut homes = Vec::new();
        for (name, wan, lan) in [
            ("ann", "198.51.100", "192.168.1"),
            ("bob", "192.0.2", "192.168.2"),
            ("carol", "100.64.7", "192.168.3"),
        ] {
            let home = lab.host(&format!("home{name}"));
            let member = lab.host(name);
            lab.link(&inet, &format!("{wan}.1/24"), &home, &format!("{wan}.2/24"));
            lab.route(&home, "default", &format!("{wan}.1"));
            lab.forward(&home);
            lab.link(
                &home,
                &format!("{lan}.1/24"),
                &member,
                &format!("{lan}.2/24"),
            );
            lab.route(&member, "default", &format!("{lan}.1"));
            lab.nft(
                &home,
                &format!(
                    "table ip nat {{ chain outbound {{ type nat hook postrouting priority 100; ip saddr {lan}.0/24 masquerade; }}; }}"
                ),
            );
            if name == "carol" {
                lab.nft(
                    &home,
                    "table inet firewall { chain forward { type filter hook forward priority 0; meta l4proto udp drop; }; }",
                );
            }
            homes.push(member);
        }
        let carol = homes.pop().unwrap();
        let bob = homes.pop().unwrap();
        let ann = homes.pop().unwrap();
        Internet {
            lab,
            cloud,
            server,
            carol,
            ann,
            bob,
        }
    }

    /// A server in the cloud network as a deployment runs it: TLS with a
    /// self-signed certificate (written to `dir`), `--public-ip` and
    /// `--ice-tcp`, plus `extra`; with the handle members use and the
    /// certificate they pin.
    fn tls_server(&self, dir: &std::path::Path, extra: &[&str]) -> (Server, Server, ServerCert) {
        std::fs::create_dir_all(dir).unwrap();
        let cert = conclave_tests::certs::self_signed(dir, "cloud");
        let (cert_file, key_file) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
        let mut args = vec!["--tls-cert", cert_file, "--tls-key", key_file];
        args.extend(["--public-ip", "203.0.113.10", "--ice-tcp"]);
        args.extend_from_slice(extra);
        let (server, public) = self.server(&args);
        (server, public, cert)
    }

    /// A server in the cloud network, and the handle members use: its public address.
    fn server(&self, args: &[&str]) -> (Server, Server) {
        let server = Server::start_opts(ServerOptions {
            netns: Some(&self.server),
            listen: Some("10.0.0.2:0"),
            args,
            ..ServerOptions::default()
        });
        let public = Server::external(&server.url.replace("10.0.0.2", "203.0.113.10"));
        (server, public)
    }
}

fn video(colour: &'static str, hz: &'static str) -> Vec<&'static str> {
    let mut args = vec!["--colour", colour, "--tone-hz", hz];
    args.extend_from_slice(SMALL_VIDEO);
    args
}

/// A server behind 1:1 NAT, members behind home NATs: they meet only because
/// the server is told its public address (`--public-ip`). The same server
/// without the flag is reached for signaling, never for media.
#[test]
fn a_server_behind_one_to_one_nat_is_reachable_with_public_ip() {
    let net = Internet::new("cvnat");
    let (_plain_server, plain) = net.server(&["--insecure"]);
    let (_mapped_server, mapped) = net.server(&["--insecure", "--public-ip", "203.0.113.10"]);
    // Both rooms at once: the one without the flag fails while the other works.
    let mut lost = Bot::join_from(
        Some(&net.ann),
        &plain,
        "nat",
        "ann",
        &video("#e03030", "400"),
    );
    let unseen = Bot::join_from(
        Some(&net.bob),
        &plain,
        "nat",
        "bob",
        &video("#30c030", "600"),
    );
    let mut ann = Bot::join_from(
        Some(&net.ann),
        &mapped,
        "nat",
        "ann",
        &video("#e03030", "400"),
    );
    let mut bob = Bot::join_from(
        Some(&net.bob),
        &mapped,
        "nat",
        "bob",
        &video("#30c030", "600"),
    );
    let (ann_id, bob_id) = (ann.member_id(), bob.member_id());
    ann.sees_and_hears(&bob_id, "#30c030", 600.0);
    bob.sees_and_hears(&ann_id, "#e03030", 400.0);
    std::thread::sleep(SECS(2));
    let unreached = lost.summary();
    let frames = unreached[unseen.member_id().as_str()]["camera_frames"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        frames, 0,
        "without --public-ip the server's media should be unreachable: {unreached}"
    );
    drop(net.lab);
}

/// Across NAT, as a cloud deployment meets its members: the server behind
/// 1:1 NAT with TLS and `--public-ip`, ann and bob behind home NATs, carol
/// behind one that drops all UDP. The cloud's firewall lets in only the
/// signaling port and the media range (`--media-ports`). All three see and
/// hear each other; carol's media goes over ICE-TCP (`--ice-tcp`), as her
/// network leaves no other way.
#[test]
fn members_behind_nat_and_a_udp_blocking_firewall_meet_over_tls() {
    let net = Internet::new("cvwan");
    let dir = std::env::temp_dir().join(format!("conclave-wan-{}", std::process::id()));
    let (_server, public, cert) = net.tls_server(&dir, &["--media-ports", "40000-40009"]);
    assert!(
        public.url.starts_with("wss://203.0.113.10:"),
        "{}",
        public.url
    );
    // The cloud's firewall opens the signaling port and the media range, nothing else.
    let signaling = public
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/ws");
    net.lab.nft(
        &net.cloud,
        &format!(
            "table inet firewall {{ chain forward {{ type filter hook forward priority 0;
                ct state established,related accept;
                ip daddr 10.0.0.2 tcp dport {{ {signaling}, 40000-40009 }} accept;
                ip daddr 10.0.0.2 udp dport 40000-40009 accept;
                ip daddr 10.0.0.2 drop; }}; }}"
        ),
    );
    let who = [
        (&net.ann, "ann", "#e03030", "400", 400.0),
        (&net.bob, "bob", "#30c030", "600", 600.0),
        (&net.carol, "carol", "#3060e0", "850", 850.0),
    ];
    let mut bots: Vec<Bot> = who
        .iter()
        .map(|(ns, name, colour, hz, _)| {
            let mut args = video(colour, hz);
            args.extend(["--pin-sha256", cert.fingerprint.as_str()]);
            Bot::join_from(Some(ns.as_str()), &public, "wan", name, &args)
        })
        .collect();
    let ids: Vec<String> = bots.iter().map(Bot::member_id).collect();
    for (i, bot) in bots.iter_mut().enumerate() {
        for (j, (_, _, colour, _, hz)) in who.iter().enumerate() {
            if i != j {
                bot.sees_and_hears(&ids[j], colour, *hz);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(net.lab);
}

/// coturn on the public side, run in `ns` for the length of a test, with
/// coturn's `use-auth-secret` scheme: the room server signs credentials
/// with `secret`, coturn checks them.
struct Coturn(std::process::Child);

impl Coturn {
    fn start(ns: &str, ip: &str, secret: &str) -> Coturn {
        let child = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "turnserver",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
            ])
            .args([
                "--listening-ip",
                ip,
                "--relay-ip",
                ip,
                "--listening-port",
                "3478",
            ])
            .args(["--use-auth-secret", "--static-auth-secret", secret])
            .args([
                "--realm",
                "conclave.test",
                "--fingerprint",
                "--log-file",
                "stdout",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("coturn's turnserver is installed (scripts/install-deps.sh)");
        // Ready once it answers on its port: a TURN Allocate before that is lost.
        for _ in 0..100 {
            let listening = std::process::Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hlun", "sport", "= :3478"])
                .output()
                .is_ok_and(|out| !out.stdout.is_empty());
            if listening {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Coturn(child)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A host at home, as the app hosts: behind a NAT router that forwards only
/// the signaling port, nothing for media. Dave, on the public side, runs a
/// firewall that lets in only UDP he asked for (as most hosts do), so the
/// host's media cannot reach him directly either. Given coturn on the public
/// side (`--turn`, `--turn-relay-self`), the host's media goes through a relay
/// and Dave and the host's own member see and hear each other; the same host
/// without TURN is reached for signaling only, asserted.
#[test]
fn a_host_behind_home_nat_is_reached_through_turn() {
    let mut lab = Lab::new("cvturn");
    let inet = lab.host("inet");
    lab.forward(&inet);
    let turn_ns = lab.host("turn");
    let dave_ns = lab.host("dave");
    let home = lab.host("home");
    let host_ns = lab.host("host");
    lab.link(&inet, "203.0.113.1/24", &turn_ns, "203.0.113.20/24");
    lab.route(&turn_ns, "default", "203.0.113.1");
    lab.link(&inet, "192.0.2.1/24", &dave_ns, "192.0.2.2/24");
    lab.route(&dave_ns, "default", "192.0.2.1");
    lab.nft(
        &dave_ns,
        "table inet firewall { chain input { type filter hook input priority 0; ct state established,related accept; meta l4proto udp drop; }; }",
    );
    lab.link(&inet, "198.51.100.1/24", &home, "198.51.100.2/24");
    lab.route(&home, "default", "198.51.100.1");
    lab.forward(&home);
    lab.link(&home, "192.168.5.1/24", &host_ns, "192.168.5.2/24");
    lab.route(&host_ns, "default", "192.168.5.1");
    lab.nft(
        &home,
        "table ip nat {
            chain inbound { type nat hook prerouting priority -100; ip daddr 198.51.100.2 tcp dport { 7443, 7444 } dnat to 192.168.5.2; }
            chain outbound { type nat hook postrouting priority 100; ip saddr 192.168.5.0/24 masquerade; }
        }",
    );
    let secret = "turn-test-secret";
    let _coturn = Coturn::start(&turn_ns, "203.0.113.20", secret);

    let dir = std::env::temp_dir().join(format!("conclave-turn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = conclave_tests::certs::self_signed(&dir, "home");
    let (cert_file, key_file) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let tls = ["--tls-cert", cert_file, "--tls-key", key_file];
    let relayed = [
        "--turn",
        "turn:203.0.113.20:3478",
        "--turn-secret",
        secret,
        "--turn-relay-self",
    ];
    let host = |port: &str, extra: &[&str]| {
        let listen = format!("192.168.5.2:{port}");
        let args: Vec<&str> = tls.iter().chain(extra).copied().collect();
        let server = Server::start_opts(ServerOptions {
            netns: Some(&host_ns),
            listen: Some(&listen),
            args: &args,
            ..ServerOptions::default()
        });
        let public = Server::external(&server.url.replace("192.168.5.2", "198.51.100.2"));
        (server, public)
    };
    let (_relaying, relaying) = host("7443", &relayed);
    let (_direct, direct) = host("7444", &[]);
    let join = |ns: &str, server: &Server, name: &str, colour: &'static str, hz: &'static str| {
        let mut args = video(colour, hz);
        args.extend(["--pin-sha256", cert.fingerprint.as_str()]);
        // The host's own member reaches its server on the LAN address, as the app does.
        let server = match ns == host_ns {
            true => Server::external(&server.url.replace("198.51.100.2", "192.168.5.2")),
            false => Server::external(&server.url),
        };
        Bot::join_from(Some(ns), &server, "home", name, &args)
    };
    // Both meetings at once: the one without TURN fails while the other works.
    let mut lost = join(&dave_ns, &direct, "dave", "#e03030", "400");
    let unseen = join(&host_ns, &direct, "host", "#30c030", "600");
    let mut dave = join(&dave_ns, &relaying, "dave", "#e03030", "400");
    let mut hosting = join(&host_ns, &relaying, "host", "#30c030", "600");
    let (dave_id, host_id) = (dave.member_id(), hosting.member_id());
    dave.sees_and_hears(&host_id, "#30c030", 600.0);
    hosting.sees_and_hears(&dave_id, "#e03030", 400.0);
    let offer = dave.report()["offer"].clone();
    assert!(
        offer["relay_candidates"].as_u64() >= Some(1),
        "the host offers a relay candidate: {offer}"
    );
    std::thread::sleep(SECS(2));
    let unreached = lost.summary();
    let frames = unreached[unseen.member_id().as_str()]["camera_frames"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        frames, 0,
        "without TURN the host's media should not reach dave: {unreached}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
}

/// A benchmark, not a check: join time across the NAT topology of
/// [`Internet`], from the WebSocket's opening to the first remote frame
/// decoded, 10 joins over UDP (bob's home) and 10 over ICE-TCP (carol's,
/// which drops UDP), to a server behind 1:1 NAT with TLS, `--public-ip` and
/// `--ice-tcp`. Prints one JSON line per transport. Run with
/// `cargo test --release --test network join_time -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints join times across NAT"]
fn join_time_across_nat() {
    let net = Internet::new("cvjoin");
    let dir = std::env::temp_dir().join(format!("conclave-join-{}", std::process::id()));
    let (_server, public, cert) = net.tls_server(&dir, &[]);
    let args = |colour| {
        let mut args = video(colour, "500");
        args.extend(["--pin-sha256", cert.fingerprint.as_str()]);
        args
    };
    let ann = Bot::join_from(Some(&net.ann), &public, "join", "ann", &args("#e03030"));
    let ann_id = ann.member_id();
    for (transport, ns) in [("udp", &net.bob), ("ice-tcp", &net.carol)] {
        let mut times_ms: Vec<f64> = (0..10)
            .map(|i| {
                let name = format!("{transport}-{i}");
                let mut joiner = Bot::join_from(Some(ns), &public, "join", &name, &args("#30c030"));
                joiner.wait_media(&ann_id, "camera", 1, SECS(20));
                let took = joiner.report()["first_frame_ms"].as_f64();
                joiner.kill();
                took.expect("a first frame was decoded")
            })
            .collect();
        times_ms.sort_by(f64::total_cmp);
        let p50 = (times_ms[4] + times_ms[5]) / 2.0;
        println!(
            "{}",
            serde_json::json!({
                "join_time": transport,
                "p50_ms": p50,
                "min_ms": times_ms[0],
                "max_ms": times_ms[9],
                "all_ms": times_ms,
            })
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(net.lab);
}
