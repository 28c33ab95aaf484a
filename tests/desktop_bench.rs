//! The desktop app's figures, measured in its real window (ignored by the
//! normal test run; `scripts/bench.py --only app` runs it in release with a
//! large Xvfb screen):
//!
//! - frame path: frames per second drawn in each remote tile, and the latency
//!   from the decoded frame (backend) to the frame drawn on the canvas (UI);
//! - CPU and memory of the app's process tree (backend + WebKit processes);
//! - launch to lobby, and Join to the first remote frame.
//!
//! One case per run, from the environment: `BENCH_BOTS` remote members sending
//! `BENCH_STREAM` (`WxH`) at 30 fps, the window at `BENCH_WINDOW` (`WxH`, sized
//! so the tiles come out at about the stream's size), measured over
//! `BENCH_SECONDS`. The bots run in load mode (replaying a pre-encoded clip), so
//! their encoders do not compete with the app for the two cores, and with
//! `--receive none`, so they do not receive each other either. The room is on
//! a standalone `conclave-server`, so the app's figures do not include the SFU.
//! It prints one `{"app_bench": ...}` line.

mod app;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use app::{SECS, click, open_app, screenshot, tempdir, type_into, wait_count, wait_css};
use conclave_tests::{Bot, Server, binary};
use fantoccini::Client;
use serde_json::{Value, json};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn size(text: &str) -> (u32, u32) {
    let (w, h) = text.split_once('x').expect("WxH");
    (w.parse().unwrap(), h.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench.py --only app runs it"]
async fn app_frame_path_and_cost() {
    let bots: usize = env_or("BENCH_BOTS", "1").parse().unwrap();
    let stream = env_or("BENCH_STREAM", "1280x720");
    let (window_w, window_h) = size(&env_or("BENCH_WINDOW", "1600x1000"));
    let seconds: u64 = env_or("BENCH_SECONDS", "10").parse().unwrap();
    let (width, height) = size(&stream);
    let bitrate = (width * height / 600).clamp(100, 1500).to_string();

    let server = Server::start();
    let port = server
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/ws")
        .to_owned();
    let (w, h) = (width.to_string(), height.to_string());
    let members: Vec<Bot> = std::thread::scope(|scope| {
        let joins: Vec<_> = (0..bots)
            .map(|i| {
                let (server, w, h, bitrate) = (&server, &w, &h, &bitrate);
                let colour = format!("#{:02x}{:02x}{:02x}", 40 + i * 8, 200 - i * 6, 90 + i * 5);
                scope.spawn(move || {
                    // Load members receive nothing, so the figures describe
                    // the app rather than the bots receiving each other.
                    let args = [
                        "--load",
                        "--receive",
                        "none",
                        "--width",
                        w,
                        "--height",
                        h,
                        "--fps",
                        "30",
                        "--bitrate-kbps",
                        bitrate,
                        "--colour",
                        &colour,
                    ];
                    Bot::join(server, "bench", &format!("Member {}", i + 1), &args)
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });

    let home = tempdir();
    let (_driver, client) = open_app(&home).await;
    client
        .set_window_rect(0, 0, window_w, window_h)
        .await
        .expect("resize the window");
    wait_css(&client, "#lobby").await;
    let launch_to_lobby = wait_timing(&client, "launch_to_lobby_ms").await;
    // The frame path the app runs (CONCLAVE_FRAME_PATH reaches it through the
    // drivers), and whether this webview could decode VP8 itself (WebCodecs).
    let frame_path = client
        .execute("return window.__conclaveFramePath", vec![])
        .await
        .expect("the frame path");
    let webcodecs = client
        .execute_async(WEBCODECS_PROBE, vec![])
        .await
        .expect("the WebCodecs probe");

    type_into(&client, "#name", "App").await;
    type_into(&client, "#room", "bench").await;
    click(&client, "#place-server").await;
    type_into(&client, "#server-address", &format!("127.0.0.1:{port}")).await;
    click(&client, "#join").await;
    let join_to_frame = wait_timing(&client, "join_to_first_remote_frame_ms").await;
    wait_count(&client, ".tile[data-kind='camera']", bots + 1).await;

    // Warm up: every tile drawing, subscriptions settled.
    tokio::time::sleep(SECS(4)).await;
    let app_pid = find_pid(&binary("conclave")).expect("the app process");
    let before_stats = stats(&client).await;
    let before_cpu = cpu_ticks(&process_tree(app_pid));
    let started = Instant::now();
    tokio::time::sleep(SECS(seconds)).await;
    let after_cpu = cpu_ticks(&process_tree(app_pid));
    let after_stats = stats(&client).await;
    let elapsed = started.elapsed().as_secs_f64();
    let shot = format!("bench-{}x{}.png", bots + 1, stream);
    screenshot(&client, &shot).await;

    // Per remote tile: frames drawn in the window, latency p50, frame size.
    let mut fps = Vec::new();
    let mut latency = Vec::new();
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    let tiles = after_stats["tiles"].as_object().unwrap();
    for (key, tile) in tiles
        .iter()
        .filter(|(k, _)| k.ends_with(":camera") && !k.starts_with("self"))
    {
        let drawn = tile["frames"].as_f64().unwrap()
            - before_stats["tiles"][key]["frames"].as_f64().unwrap_or(0.0);
        fps.push(drawn / elapsed);
        if let Some(p50) = tile["latency_p50_ms"].as_f64() {
            latency.push(p50);
        }
        *sizes
            .entry(format!("{}x{}", tile["width"], tile["height"]))
            .or_default() += 1;
    }
    fps.sort_by(f64::total_cmp);
    latency.sort_by(f64::total_cmp);

    let tree = process_tree(app_pid);
    let cpu_percent = |pids: &dyn Fn(&Proc) -> bool| {
        let used: u64 = after_cpu
            .iter()
            .filter(|(p, _)| pids(p))
            .map(|(p, t)| {
                t - before_cpu
                    .iter()
                    .find(|(q, _)| q.pid == p.pid)
                    .map_or(*t, |(_, t0)| *t0)
            })
            .sum();
        round1(used as f64 / ticks_per_second() / elapsed * 100.0)
    };
    let memory: Vec<Value> = tree
        .iter()
        .map(|p| json!({ "process": p.name, "rss_mb": p.rss_mb(), "pss_mb": p.pss_mb() }))
        .collect();
    let report = json!({ "app_bench": {
        // Remote tiles that drew at least one frame (on a saturated machine, not all may).
        "remote_tiles": fps.len(),
        "tiles": bots + 1,
        "stream": stream,
        "window": format!("{window_w}x{window_h}"),
        "drawn_frame_sizes": sizes,
        "seconds": round1(elapsed),
        "fps": { "min": fps.first().map(|v| round1(*v)), "median": median(&fps) },
        "latency_p50_ms": { "median_of_tiles": median(&latency), "max_of_tiles": latency.last() },
        "cpu_percent_of_one_core": {
            "backend": cpu_percent(&|p| p.pid == app_pid),
            "webkit": cpu_percent(&|p| p.pid != app_pid),
            "total": cpu_percent(&|_| true),
        },
        "memory": memory,
        "pss_mb_total": round1(tree.iter().map(Proc::pss_mb).sum()),
        "rss_mb_total": round1(tree.iter().map(Proc::rss_mb).sum()),
        "frame_path": frame_path,
        "webcodecs": webcodecs,
        "launch_to_lobby_ms": launch_to_lobby,
        "join_to_first_remote_frame_ms": join_to_frame,
        "screenshot": shot,
    }});
    println!("{report}");
    drop(members);
    client.close().await.unwrap();
}

/// Whether the page has WebCodecs' `VideoDecoder`, and if so whether it
/// decodes VP8 (what the room sends), with the browser's user agent.
const WEBCODECS_PROBE: &str = r#"
const done = arguments[arguments.length - 1];
const agent = navigator.userAgent;
if (typeof VideoDecoder === "undefined") {
  done({ video_decoder: "undefined", user_agent: agent });
} else {
  VideoDecoder.isConfigSupported({ codec: "vp8" }).then(
    (r) => done({ video_decoder: typeof VideoDecoder, vp8_supported: !!r.supported, user_agent: agent }),
    (e) => done({ video_decoder: typeof VideoDecoder, vp8_error: String(e), user_agent: agent }));
}
"#;

async fn stats(client: &Client) -> Value {
    client
        .execute("return window.__conclaveStats()", vec![])
        .await
        .expect("__conclaveStats")
}

async fn wait_timing(client: &Client, name: &str) -> f64 {
    let deadline = Instant::now() + SECS(30);
    loop {
        if let Some(ms) = stats(client).await["timings"][name].as_f64() {
            return ms;
        }
        assert!(Instant::now() < deadline, "{name} was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let mid = sorted.len() / 2;
    let m = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    };
    Some(round1(m))
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn ticks_per_second() -> f64 {
    100.0 // USER_HZ on Linux
}

/// One process, from /proc.
#[derive(Clone, Debug)]
struct Proc {
    pid: u32,
    parent: u32,
    name: String,
    cpu_ticks: u64,
}

impl Proc {
    fn read(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat[open + 1..close].to_owned();
        // Fields after the name start at field 3 (state); ppid is 4, utime 14, stime 15.
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        Some(Proc {
            pid,
            parent: field(4)? as u32,
            name,
            cpu_ticks: field(14)? + field(15)?,
        })
    }

    fn status_kb(&self, file: &str, key: &str) -> f64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/{file}", self.pid)).unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    fn rss_mb(&self) -> f64 {
        round1(self.status_kb("status", "VmRSS:") / 1024.0)
    }

    /// Proportional set size: shared pages split between their users, so the
    /// tree's total does not count the shared libraries several times.
    fn pss_mb(&self) -> f64 {
        round1(self.status_kb("smaps_rollup", "Pss:") / 1024.0)
    }
}

fn all_processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(Proc::read)
        .collect()
}

fn find_pid(exe: &std::path::Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    all_processes()
        .into_iter()
        .find(|p| std::fs::read_link(format!("/proc/{}/exe", p.pid)).is_ok_and(|e| e == exe))
        .map(|p| p.pid)
}

/// The process and all its descendants (the app and its WebKit processes).
fn process_tree(root: u32) -> Vec<Proc> {
    let all = all_processes();
    let mut pids: HashSet<u32> = HashSet::from([root]);
    loop {
        let before = pids.len();
        for p in &all {
            if pids.contains(&p.parent) {
                pids.insert(p.pid);
            }
        }
        if pids.len() == before {
            break;
        }
    }
    all.into_iter().filter(|p| pids.contains(&p.pid)).collect()
}

fn cpu_ticks(tree: &[Proc]) -> Vec<(Proc, u64)> {
    tree.iter().map(|p| (p.clone(), p.cpu_ticks)).collect()
}
