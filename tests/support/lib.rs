//! Helpers for the cross-process tests: start a real `conclave-server`, run
//! real `conclave-bot`s against it, read their JSON lines, drive them through
//! stdin. Everything talks real WebRTC over loopback.
//!
//! The binaries must be built first (`cargo build --workspace`); the README's
//! test command does that.

pub mod certs;
pub mod lossy;
pub mod netns;
pub mod office;
pub mod onsets;
pub mod pulse;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A binary of this workspace, next to the test executable's directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Collects a child's stdout lines (JSON where they parse) on a thread.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<Value>>>);

impl Lines {
    fn follow(stdout: impl std::io::Read + Send + 'static) -> Self {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.0.lock().unwrap().push(value);
            }
        });
        lines
    }

    pub fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lines at index `from` or later that match, once there are at
    /// least `n` of them (waiting up to `timeout`); `None` if there never were.
    pub fn wait_count(
        &self,
        from: usize,
        n: usize,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<Value> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .skip(from)
                .filter(|v| matches(v))
                .cloned()
                .collect();
            if found.len() >= n {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The first line at index `from` or later that matches, waiting up to `timeout`.
    pub fn wait_from(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .skip(from)
                .find(|v| matches(v))
            {
                return Some(found.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
}

/// How to start a server beyond its arguments.
#[derive(Default)]
pub struct ServerOptions<'a> {
    pub args: &'a [&'a str],
    /// Start it under `ulimit -n` of this many descriptors.
    pub max_open_files: Option<u32>,
    /// Write its log (stderr) to this file.
    pub stderr: Option<PathBuf>,
    /// Another build's server (to compare with an older one); this build's by default.
    pub binary: Option<PathBuf>,
    /// The network namespace to run it in (see [`netns::Lab`]); this host's by default.
    pub netns: Option<&'a str>,
    /// Where it listens; `127.0.0.1:0` by default.
    pub listen: Option<&'a str>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Server {
        Self::start_opts(ServerOptions {
            args,
            ..ServerOptions::default()
        })
    }

    /// A server from another build (to compare with an older one).
    pub fn start_binary(path: &std::path::Path, args: &[&str]) -> Server {
        Self::start_opts(ServerOptions {
            args,
            binary: Some(path.to_owned()),
            ..ServerOptions::default()
        })
    }

    pub fn start_opts(options: ServerOptions) -> Server {
        let server = options
            .binary
            .clone()
            .unwrap_or_else(|| binary("conclave-server"));
        let mut command = match options.max_open_files {
            // `exec` keeps the pid: the child is the server itself.
            Some(n) => {
                let mut command = Command::new("bash");
                command
                    .arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(server);
                command
            }
            None => match options.netns {
                // `ip netns exec` execs: the child is the server itself.
                Some(ns) => {
                    let mut command = Command::new("ip");
                    command.args(["netns", "exec", ns]).arg(server);
                    command
                }
                None => Command::new(server),
            },
        };
        let stderr = match &options.stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("server log file")),
            None => Stdio::null(),
        };
        let mut child = command
            .args(["--listen", options.listen.unwrap_or("127.0.0.1:0")])
            .args(options.args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start conclave-server");
        let lines = Lines::follow(child.stdout.take().unwrap());
        let listening = lines
            .wait_from(0, Duration::from_secs(10), |v| v.get("listening").is_some())
            .expect("the server prints its address");
        let url = listening["listening"].as_str().unwrap().to_owned();
        Server {
            child: Some(child),
            url,
        }
    }

    /// A server this test did not start (the app's embedded one).
    pub fn external(url: &str) -> Server {
        Server {
            child: None,
            url: url.to_owned(),
        }
    }

    /// The server's process id (this test must have started it).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("a server this test started")
            .id()
    }

    /// Waits up to `timeout` for the server (started by this test) to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut().expect("a server this test started");
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `host:port` of its signaling socket.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
            .trim_end_matches("/ws")
            .parse()
            .expect("ws://HOST:PORT/ws or wss://")
    }
}

/// Resident memory of a process, in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// CPU time a process has used (user + system), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // The command name is in parentheses and may hold spaces; fields follow it.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// Share of one core a process used over `window` (1.0 = one core busy).
pub fn cpu_share(pid: u32, window: Duration) -> f64 {
    let before = cpu_time(pid);
    let start = Instant::now();
    std::thread::sleep(window);
    let used = cpu_time(pid) - before;
    used.as_secs_f64() / start.elapsed().as_secs_f64()
}

impl Server {
    /// Kills the server this test started, as a crash would.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `conclave-bot` with `--commands`: its events are in `lines`, commands go to stdin.
pub struct Bot {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: Lines,
}

/// Small video so several bots and the server fit on two cores.
pub const SMALL_VIDEO: &[&str] = &[
    "--width",
    "320",
    "--height",
    "180",
    "--fps",
    "15",
    "--bitrate-kbps",
    "300",
];

/// Where a bot's log goes: nowhere, or with `BOT_STDERR_DIR` set, to a file
/// named after the bot there (with `RUST_LOG`, for debugging a test).
fn bot_stderr(name: &str) -> Stdio {
    match std::env::var_os("BOT_STDERR_DIR") {
        Some(dir) => std::fs::File::create(PathBuf::from(dir).join(name))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null()),
        None => Stdio::null(),
    }
}

impl Bot {
    pub fn join(server: &Server, room: &str, name: &str, args: &[&str]) -> Bot {
        Self::join_from(None, server, room, name, args)
    }

    /// Joins with extra environment (`SSL_CERT_FILE` naming a test authority, say).
    pub fn join_env(
        envs: &[(&str, &Path)],
        server: &Server,
        room: &str,
        name: &str,
        args: &[&str],
    ) -> Bot {
        let mut command = Command::new(binary("conclave-bot"));
        command.envs(envs.iter().copied());
        Self::start(command, server, room, name, args)
    }

    /// Joins from inside network namespace `netns` (see [`netns::Lab`]), or from this host.
    pub fn join_from(
        netns: Option<&str>,
        server: &Server,
        room: &str,
        name: &str,
        args: &[&str],
    ) -> Bot {
        let command = match netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command
                    .args(["netns", "exec", ns])
                    .arg(binary("conclave-bot"));
                command
            }
            None => Command::new(binary("conclave-bot")),
        };
        Self::start(command, server, room, name, args)
    }

    fn start(mut command: Command, server: &Server, room: &str, name: &str, args: &[&str]) -> Bot {
        let mut child = command
            .args([
                "--server",
                &server.url,
                "--room",
                room,
                "--name",
                name,
                "--commands",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(bot_stderr(name))
            .spawn()
            .expect("start conclave-bot");
        let lines = Lines::follow(child.stdout.take().unwrap());
        let bot = Bot {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
        };
        bot.wait_event("room.joined", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{name} did not join: {:?}", bot.lines.all()));
        bot
    }

    /// Tries to join `room` (without camera or microphone) and returns the
    /// code of the error the bot reports: for joins that must be refused.
    pub fn join_refusal(
        server: &Server,
        room: &str,
        envs: &[(&str, &Path)],
        args: &[&str],
    ) -> String {
        let out = Command::new(binary("conclave-bot"))
            .args(["--server", &server.url, "--room", room, "--name", "eve"])
            .args(["--no-camera", "--no-microphone", "--duration", "5"])
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .expect("run conclave-bot");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let error = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|v| v["event"] == "error")
            .unwrap_or_else(|| panic!("the bot reported no error: {stdout}"));
        error["params"]["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// This bot's member id, from its `room.joined`.
    pub fn member_id(&self) -> String {
        let joined = self
            .wait_event("room.joined", Duration::ZERO)
            .expect("joined");
        joined["params"]["member_id"].as_str().unwrap().to_owned()
    }

    pub fn send(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").expect("write to bot");
        stdin.flush().unwrap();
    }

    /// Sends a command and waits for its reply line.
    pub fn command(&mut self, command: Value) -> Value {
        let from = self.lines.len();
        let cmd = command["cmd"].as_str().unwrap().to_owned();
        self.send(command);
        self.lines
            .wait_from(from, Duration::from_secs(10), |v| {
                v["reply"]["cmd"] == cmd.as_str()
            })
            .unwrap_or_else(|| panic!("{} gave no reply to {cmd}", self.name))["reply"]
            .clone()
    }

    /// A fresh report of what this bot received, keyed by member id.
    pub fn summary(&mut self) -> Value {
        self.report()["summary"].clone()
    }

    /// The whole summary line: `summary` (what was received, by member),
    /// `sent` (video frames this bot sent) and `offer` (the server's last
    /// offer: `bytes`, `m_sections`, `count`).
    pub fn report(&mut self) -> Value {
        let from = self.lines.len();
        self.send(json!({ "cmd": "summary" }));
        self.lines
            .wait_from(from, Duration::from_secs(10), |v| {
                v.get("summary").is_some()
            })
            .expect("summary")
    }

    /// The server's last offer to this bot, once its offers have stopped
    /// coming for `quiet` (the room has settled).
    pub fn settled_offer(&mut self, quiet: Duration, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = self.report()["offer"].clone();
        loop {
            std::thread::sleep(quiet);
            let now = self.report()["offer"].clone();
            if now == last {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{}'s offers did not settle: {now}",
                self.name
            );
            last = now;
        }
    }

    pub fn wait_event(&self, name: &str, timeout: Duration) -> Option<Value> {
        self.wait_event_from(0, name, timeout, |_| true)
    }

    pub fn wait_event_from(
        &self,
        from: usize,
        name: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.lines.wait_from(from, timeout, |v| {
            v["event"] == name && matches(&v["params"])
        })
    }

    pub fn events(&self, name: &str) -> Vec<Value> {
        self.lines
            .all()
            .into_iter()
            .filter(|v| v["event"] == name)
            .collect()
    }

    /// Waits until this bot decodes `member`'s track of `kind` (camera/screen frames, microphone packets).
    pub fn wait_media(
        &mut self,
        member: &str,
        kind: &str,
        at_least: u64,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let counter = if kind == "microphone" {
            "microphone_packets".to_owned()
        } else {
            format!("{kind}_frames")
        };
        loop {
            let summary = self.summary();
            if summary[member][&counter].as_u64().unwrap_or(0) >= at_least {
                return summary[member].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{} never got {at_least} {counter} from {member}: {summary}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until this bot sees `member`'s camera in `colour` (within 30)
    /// and hears its tone at `hz` (within 3 Hz), as its summary measures them.
    pub fn sees_and_hears(&mut self, member: &str, colour: &str, hz: f64) {
        let got = self.wait_media(member, "camera", 20, Duration::from_secs(20));
        let seen = got["camera_mean_colour"].as_str().unwrap_or_default();
        assert!(
            colour_distance(seen, colour) <= 30,
            "{} saw {member} as {seen}, sent {colour}",
            self.name
        );
        let got = self.wait_media(member, "microphone", 60, Duration::from_secs(20));
        let heard = got["tone_hz"].as_f64().unwrap_or(0.0);
        assert!(
            (heard - hz).abs() < 3.0,
            "{} heard {member} at {heard} Hz, sent {hz} Hz",
            self.name
        );
    }

    /// Waits until this bot hears `member` at `hz` (within 3 Hz).
    pub fn wait_pitch(&mut self, member: &str, hz: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let heard = self.summary()[member]["tone_hz"].as_f64();
            if heard.is_some_and(|h| (h - hz).abs() <= 3.0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} hears {member} at {heard:?} Hz, expected {hz}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Kills the process: its socket drops without a goodbye.
    /// The bot's process id (it is the child itself: `ip netns exec` execs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Absolute per-channel distance between two `#rrggbb` colours.
pub fn colour_distance(a: &str, b: &str) -> u32 {
    let parse = |s: &str| {
        let s = s.trim_start_matches('#');
        (0..3)
            .map(|i| u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).unwrap() as i32)
            .collect::<Vec<_>>()
    };
    let (a, b) = (parse(a), parse(b));
    (0..3).map(|i| (a[i] - b[i]).unsigned_abs()).max().unwrap()
}
