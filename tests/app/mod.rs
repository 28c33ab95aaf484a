//! Driving the built app in its real window: `tauri-driver` (with
//! WebKitWebDriver) on a free port, a fresh profile, and small WebDriver
//! helpers. Shared by the end-to-end test and the app benchmark.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conclave_tests::binary;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const SECS: fn(u64) -> Duration = Duration::from_secs;

/// tauri-driver, and the session bus the app finds a running instance on.
pub struct Driver {
    driver: Child,
    bus: SessionBus,
    home: PathBuf,
}

impl Drop for Driver {
    /// tauri-driver runs WebKitWebDriver, which runs the app: all three go,
    /// as the process group tauri-driver leads.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Driver {
    /// Starts `conclave ARGS` as a user would a second time (same profile,
    /// same session bus) and waits for it to end.
    pub fn launch_again(&self, args: &[&str]) -> std::process::Output {
        let mut launch = Command::new(binary("conclave"));
        launch.args(args);
        profile_env(&mut launch, &self.home, &self.bus.address);
        let child = launch
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start conclave again");
        let pid = child.id();
        // A second instance that opened a window of its own would never end.
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(SECS(20));
            let _ = Command::new("kill").arg(pid.to_string()).status();
        });
        let output = child.wait_with_output().unwrap();
        drop(watchdog);
        output
    }
}

/// A private D-Bus session bus, so the app's one-instance check sees only
/// this test's app.
struct SessionBus {
    daemon: Child,
    address: String,
}

impl SessionBus {
    fn start() -> SessionBus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (scripts/install-deps.sh)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let address = line.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        SessionBus { daemon, address }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The environment of the test's user: a fresh home, PulseAudio's cookie
/// from the real one, the private session bus.
fn profile_env(command: &mut Command, home: &Path, bus: &str) {
    command
        .env("PULSE_COOKIE", pulse_cookie())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        // No GPU under Xvfb: the app turns WebKitGTK's GL compositing off by
        // itself (a software rasteriser would starve the page); not set here,
        // so that decision is tested too.
        .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
        .env_remove("WEBKIT_DISABLE_DMABUF_RENDERER");
}

pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts tauri-driver on a free port and opens the app in a fresh profile.
pub async fn open_app(home: &Path) -> (Driver, Client) {
    // Both rustls back ends are compiled in (through other crates): choose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "no DISPLAY: run the tests with scripts/test.sh, which starts Xvfb"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let native_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bus = SessionBus::start();
    let mut driver = Command::new("tauri-driver");
    // Its own process group, so that dropping the driver ends its children too.
    driver.process_group(0).args([
        "--port",
        &port.to_string(),
        "--native-port",
        &native_port.to_string(),
    ]);
    profile_env(&mut driver, home, &bus.address);
    let child = driver
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver is installed (scripts/install-deps.sh)");
    let driver = Driver {
        driver: child,
        bus,
        home: home.to_owned(),
    };
    let deadline = Instant::now() + SECS(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tauri-driver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert(
        "tauri:options".into(),
        json!({ "application": binary("conclave") }),
    );
    let client = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with the app");
    (driver, client)
}

pub async fn wait_css(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(SECS(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Replaces the text of input `css` with `text`.
/// The text of the first element matching `css`, once there is one.
pub async fn wait_text(client: &Client, css: &str) -> String {
    wait_css(client, css)
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default()
}

pub async fn type_into(client: &Client, css: &str, text: &str) {
    let input = wait_css(client, css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

pub async fn click(client: &Client, css: &str) {
    wait_css(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// A real double click in the middle of the element `css`: the pointer moves there and clicks twice.
pub async fn double_click(client: &Client, css: &str) {
    let element = wait_css(client, css).await;
    // Past the double-click time, so that a click just before does not count as this one's first.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let press = || {
        [
            PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            },
            PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            },
        ]
    };
    let mut mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element,
        duration: None,
        x: 0.0,
        y: 0.0,
    });
    for action in press().into_iter().chain(press()) {
        mouse = mouse.then(action);
    }
    client
        .perform_actions(mouse)
        .await
        .unwrap_or_else(|e| panic!("cannot double-click {css}: {e}"));
    let _ = client.release_actions().await;
}

pub async fn count(client: &Client, css: &str) -> usize {
    client
        .find_all(Locator::Css(css))
        .await
        .map(|v| v.len())
        .unwrap_or(0)
}

pub async fn wait_count(client: &Client, css: &str, expected: usize) {
    let deadline = Instant::now() + SECS(20);
    while count(client, css).await != expected {
        assert!(
            Instant::now() < deadline,
            "expected {expected} of {css}, have {}",
            count(client, css).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("screenshot");
    let path = artifacts().join(name);
    std::fs::write(&path, png).unwrap();
    path
}

pub fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("conclave-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pulse_cookie() -> PathBuf {
    std::env::var_os("PULSE_COOKIE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".config/pulse/cookie")
        })
}
