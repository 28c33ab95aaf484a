//! The desktop app, end to end, in its real window: Xvfb runs the built app,
//! `tauri-driver` (with WebKitWebDriver) drives it over WebDriver, and real
//! bots share the room with it. `scripts/test.sh` starts Xvfb and installs the
//! drivers; screenshots land in `artifacts/`.

mod app;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use app::{
    SECS, click, double_click, open_app, screenshot, tempdir, type_into, wait_count, wait_css,
    wait_text,
};
use conclave_devices::speaker_test::TEST_SOUND_HZ;
use conclave_tests::pulse::{PulseModule, record};
use conclave_tests::{Bot, SMALL_VIDEO, Server, certs, colour_distance};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// The colour at the centre of a tile's canvas, as `#rrggbb`.
async fn tile_colour(client: &Client, member_id: &str) -> Option<String> {
    let script = r#"
        const tile = document.querySelector(`.tile[data-member-id="${arguments[0]}"][data-kind="camera"] canvas`);
        if (!tile || tile.width === 0) return null;
        const probe = document.createElement('canvas');
        probe.width = tile.width; probe.height = tile.height;
        const ctx = probe.getContext('2d');
        ctx.drawImage(tile, 0, 0);
        const [r, g, b] = ctx.getImageData(Math.floor(tile.width / 4), Math.floor(tile.height * 0.75), 1, 1).data;
        return '#' + [r, g, b].map(v => v.toString(16).padStart(2, '0')).join('');
    "#;
    client
        .execute(script, vec![json!(member_id)])
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
}

async fn wait_tile_colour(client: &Client, member_id: &str, expected: &str) {
    let deadline = Instant::now() + SECS(20);
    loop {
        let seen = tile_colour(client, member_id).await;
        if seen
            .as_deref()
            .is_some_and(|c| colour_distance(c, expected) <= 40)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tile of {member_id} shows {seen:?}, the bot sends {expected}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until input `css` holds `expected`.
async fn wait_value(client: &Client, css: &str, expected: &str) {
    let script = format!("return document.querySelector({css:?})?.value ?? null");
    let deadline = Instant::now() + SECS(10);
    loop {
        let value = client.execute(&script, vec![]).await.unwrap();
        if value == json!(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} holds {value}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The camera tiles on screen: member id and size in CSS pixels, in page order.
async fn tile_sizes(client: &Client) -> Vec<(String, f64, f64)> {
    let script = r#"
        return Array.from(document.querySelectorAll('.tile[data-kind="camera"]')).map(t => {
            const r = t.getBoundingClientRect();
            return [t.dataset.memberId, r.width, r.height];
        });
    "#;
    let rows = client.execute(script, vec![]).await.unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (w, h) = (r[1].as_f64().unwrap(), r[2].as_f64().unwrap());
            (r[0].as_str().unwrap().to_owned(), w, h)
        })
        .collect()
}

/// Waits until one camera tile (`member`) is at least `times` the area of every
/// other one, and returns the sizes; with `None`, until all are the same size.
async fn wait_tile_sizes(
    client: &Client,
    big: Option<&str>,
    times: f64,
) -> Vec<(String, f64, f64)> {
    let deadline = Instant::now() + SECS(10);
    loop {
        let sizes = tile_sizes(client).await;
        let area = |id: &str| sizes.iter().find(|t| t.0 == id).map(|t| t.1 * t.2);
        let ok = match big {
            Some(big) => area(big).is_some_and(|a| {
                sizes.len() > 1
                    && sizes
                        .iter()
                        .filter(|t| t.0 != big)
                        .all(|t| a >= times * t.1 * t.2)
            }),
            None => sizes.iter().all(|t| {
                (t.1 - sizes[0].1).abs() <= 1.0 && (t.2 - sizes[0].2).abs() <= 1.0 && t.1 > 100.0
            }),
        };
        if ok {
            return sizes;
        }
        assert!(
            Instant::now() < deadline,
            "tiles never settled as expected (big: {big:?}): {sizes:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `aria-valuenow` of a meter, once it shows more than nothing.
async fn wait_meter_moves(client: &Client, css: &str) -> u64 {
    let deadline = Instant::now() + SECS(10);
    loop {
        let now = wait_css(client, css)
            .await
            .attr("aria-valuenow")
            .await
            .unwrap()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if now > 0 {
            return now;
        }
        assert!(Instant::now() < deadline, "{css} stays at 0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A screenshot in `artifacts/`, copied to `docs/` with `CONCLAVE_UPDATE_SCREENSHOT` set.
async fn doc_screenshot(client: &Client, artifact: &str, doc: &str) {
    let shot = screenshot(client, artifact).await;
    if std::env::var_os("CONCLAVE_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(
            &shot,
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("docs")
                .join(doc),
        )
        .unwrap();
    }
}

/// Whether the field around input `css` is hidden.
async fn is_hidden(client: &Client, css: &str) -> bool {
    let script = format!("return document.querySelector({css:?}).closest('.field').hidden");
    client.execute(&script, vec![]).await.unwrap() == json!(true)
}

/// Waits until `script` (a JavaScript expression) is true in the page.
async fn wait_true(client: &Client, script: &str) {
    let deadline = Instant::now() + SECS(10);
    while client
        .execute(&format!("return !!({script})"), vec![])
        .await
        .unwrap()
        != json!(true)
    {
        assert!(Instant::now() < deadline, "never true: {script}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a window manager runs on the display (it names itself on the root window).
fn window_manager_runs() -> bool {
    Command::new("xprop")
        .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("window id"))
}

/// Presses keys where the focus is (not in a text field).
async fn press(client: &Client, keys: &str) {
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

fn event_from(
    bot: &Bot,
    from: usize,
    name: &str,
    member: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    bot.wait_event_from(from, name, SECS(10), |p| {
        (p["member"]["id"] == member || p["member_id"] == member || p["from"] == member) && check(p)
    })
    .unwrap_or_else(|| panic!("{} never saw {name} from {member}", bot.name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_joins_a_room_and_every_control_works() {
    // Sound devices in PulseAudio: a "microphone" that hears a 660 Hz tone
    // (a null sink with a sine playing into it; the app records its monitor)
    // and a "speaker" whose monitor this test records.
    let tag = std::process::id();
    let (mic_sink, speaker_sink) = (
        format!("conclave_mic_{tag}"),
        format!("conclave_speaker_{tag}"),
    );
    let _mic = PulseModule::load(&["module-null-sink", &format!("sink_name={mic_sink}")]);
    let _sine = PulseModule::load(&["module-sine", &format!("sink={mic_sink}"), "frequency=660"]);
    let speaker = PulseModule::load(&["module-null-sink", &format!("sink_name={speaker_sink}")]);

    let home = tempdir();
    let (driver, client) = open_app(&home).await;
    // The desktop's background, which a shared screen must show. (Painted
    // while the app is connected: an X server resets when its last client leaves.)
    let desktop_colour = "#c03080";
    let painted = Command::new("xsetroot")
        .args(["-solid", desktop_colour])
        .status();
    assert!(
        painted.is_ok_and(|s| s.success()),
        "xsetroot (x11-xserver-utils) paints the desktop"
    );

    // Lobby: host on this computer.
    wait_css(&client, "#lobby").await;
    doc_screenshot(&client, "01-lobby.png", "lobby.png").await;

    // A second launch with a room link goes to this window: it opens none of
    // its own (it ends at once) and this lobby is filled in. The link is to a
    // TLS server with a self-signed certificate, which the link names.
    let certificates = home.join("tls");
    std::fs::create_dir_all(&certificates).unwrap();
    let cert = certs::self_signed(&certificates, "host");
    let tls_server = Server::start_with(&[
        "--tls-cert",
        cert.cert.to_str().unwrap(),
        "--tls-key",
        cert.key.to_str().unwrap(),
    ]);
    let tls_address = tls_server.addr().to_string();
    let link = format!("conclave://{tls_address}/from-link#fp={}", cert.fingerprint);
    let second = driver.launch_again(&[&link]);
    assert!(
        second.status.success(),
        "the second launch ended with {:?}: {}",
        second.status,
        String::from_utf8_lossy(&second.stderr)
    );
    wait_value(&client, "#room", "from-link").await;
    wait_value(&client, "#server-address", &tls_address).await;
    // Joining by that link pins the certificate: the app is in the room over wss://.
    let pinned = [
        "--pin-sha256",
        cert.fingerprint.as_str(),
        "--no-camera",
        "--no-microphone",
    ];
    let erin = Bot::join(&tls_server, "from-link", "Erin", &pinned);
    type_into(&client, "#name", "Ann").await;
    click(&client, "#join").await;
    wait_css(&client, "#room-view").await;
    erin.wait_event("member.joined", SECS(10))
        .expect("erin saw the app join over TLS");
    let shown_link = client
        .execute(
            "return document.querySelector('#room-link-display')?.value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        shown_link,
        json!(link),
        "the invite link names the certificate"
    );
    click(&client, "#btn-leave").await;
    wait_css(&client, "#lobby").await;
    // Erin, the room's moderator, gives it a password: the app's next join is
    // refused, the lobby asks for the password, and with it the app is in.
    let mut erin = erin;
    erin.command(json!({ "cmd": "set_password", "password": "tulip" }));
    assert!(
        is_hidden(&client, "#room-password").await,
        "no password field before the server asks"
    );
    click(&client, "#join").await;
    let refused = wait_text(&client, ".toast.toast-error").await;
    assert!(refused.contains("password"), "the refusal says {refused:?}");
    click(&client, ".toast.toast-error .toast-close").await;
    wait_count(&client, ".toast.toast-error", 0).await;
    wait_true(
        &client,
        "!document.querySelector('#room-password').closest('.field').hidden",
    )
    .await;
    screenshot(&client, "lobby-password.png").await;
    type_into(&client, "#room-password", "tulip").await;
    let joins = erin.events("member.joined").len();
    click(&client, "#join").await;
    wait_css(&client, "#room-view").await;
    let deadline = Instant::now() + SECS(10);
    while erin.events("member.joined").len() == joins {
        assert!(
            Instant::now() < deadline,
            "erin never saw the app join with the password"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server stalls for 6 s (SIGSTOP, then SIGCONT), as a new user tried:
    // the window says it is reconnecting, then the call is back as it was.
    let pause = |signal: &str| {
        let pid = tls_server.pid().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    };
    let lefts = erin.events("member.left").len();
    pause("-STOP");
    wait_true(&client, "document.querySelector('#reconnecting-banner')").await;
    screenshot(&client, "reconnecting.png").await;
    tokio::time::sleep(SECS(2)).await;
    pause("-CONT");
    wait_true(&client, "!document.querySelector('#reconnecting-banner')").await;
    wait_css(&client, "#room-view").await;
    assert_eq!(
        erin.events("member.left").len(),
        lefts,
        "erin never saw the app leave"
    );
    click(&client, "#btn-leave").await;
    wait_css(&client, "#lobby").await;
    assert_eq!(
        client
            .execute(
                "return document.querySelector('#room-password').value",
                vec![]
            )
            .await
            .unwrap(),
        json!(""),
        "the lobby keeps no password after the call"
    );
    drop(erin);
    // A link that is no room link says so, in this window.
    let garbage = driver.launch_again(&["conclave://nonsense"]);
    assert!(garbage.status.success());
    let toast = wait_text(&client, ".toast.toast-error").await;
    assert!(
        toast.contains("not a room link"),
        "the bad-link toast says {toast:?}"
    );
    click(&client, ".toast.toast-error .toast-close").await;
    wait_count(&client, ".toast.toast-error", 0).await;

    type_into(&client, "#name", "Ann").await;
    type_into(&client, "#room", "e2e").await;
    for (select, device) in [
        ("#microphone", format!("pulse:{mic_sink}.monitor")),
        ("#speaker", format!("pulse:{speaker_sink}")),
    ] {
        wait_css(&client, &format!("{select} option[value='{device}']")).await;
        client
            .find(Locator::Css(select))
            .await
            .unwrap()
            .select_by_value(&device)
            .await
            .unwrap();
    }
    // The speaker test plays its tone on the chosen speaker (PulseAudio starts
    // a stream once its buffer is full: the 1 s tone may come out 2 s late).
    click(&client, "#lobby-test-speaker").await;
    let heard = conclave_media::dominant_frequency(
        &record(&format!("{speaker_sink}.monitor"), 3.0),
        48_000,
    );
    let toasts = client
        .execute(
            "return Array.from(document.querySelectorAll('.toast')).map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        heard.is_some_and(|hz| (hz - TEST_SOUND_HZ).abs() <= 5.0),
        "the speaker test played {heard:?} Hz, not {TEST_SOUND_HZ} Hz (toasts: {toasts})"
    );
    // A server that is not there: a sentence a person understands, not an OS error.
    click(&client, "#place-server").await;
    type_into(&client, "#server-address", "127.0.0.1:9").await;
    click(&client, "#join").await;
    let toast = wait_text(&client, ".toast.toast-error").await;
    assert!(
        toast.contains("Nothing is answering at 127.0.0.1:9") && !toast.contains("os error"),
        "the dead-server toast says {toast:?}"
    );
    screenshot(&client, "00-lobby-dead-server.png").await;
    click(&client, ".toast.toast-error .toast-close").await;

    click(&client, "#place-host").await;
    click(&client, "#join").await;
    wait_css(&client, "#room-view").await;
    assert_eq!(client.title().await.unwrap(), "e2e — Conclave");

    let hosted = wait_text(&client, "#hosted-address").await;
    let port = hosted.rsplit(':').next().unwrap().trim().to_owned();
    // The embedded host serves TLS with its own certificate, which its link names.
    let link = client
        .execute(
            "return document.querySelector('#room-link-display').value",
            vec![],
        )
        .await
        .unwrap();
    let fingerprint = link
        .as_str()
        .and_then(|link| link.rsplit_once("#fp="))
        .map(|(_, fp)| fp.to_owned())
        .unwrap_or_else(|| panic!("the host's link names no certificate: {link}"));
    let server = Server::external(&format!("wss://127.0.0.1:{port}/ws"));
    let args = |colour: &'static str, hz: &'static str| {
        let mut a = vec![
            "--colour",
            colour,
            "--tone-hz",
            hz,
            "--pin-sha256",
            &fingerprint,
        ];
        a.extend_from_slice(SMALL_VIDEO);
        a
    };
    let mut bob = Bot::join(&server, "e2e", "Bob", &args("#30c030", "600"));
    let mut carol = Bot::join(&server, "e2e", "Carol", &args("#3060e0", "850"));
    let (bob_id, carol_id) = (bob.member_id(), carol.member_id());
    let ann_id = bob.wait_event("room.joined", SECS(1)).unwrap()["params"]["members"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Three tiles with the right names, and the bots' video in them.
    wait_count(&client, ".tile[data-kind='camera']", 3).await;
    for (id, expected) in [(&bob_id, "Bob"), (&carol_id, "Carol")] {
        let label = wait_text(&client, &format!(".tile[data-member-id='{id}'] .tile-name")).await;
        assert!(
            label.contains(expected),
            "tile of {id} is labelled {label:?}"
        );
    }
    wait_tile_colour(&client, &bob_id, "#30c030").await;
    wait_tile_colour(&client, &carol_id, "#3060e0").await;
    // The app's media reaches the bots too.
    bob.wait_media(&ann_id, "camera", 10, SECS(15));

    // My microphone hears its tone: my own tile has the talking ring, the mic button's meter moves.
    wait_css(&client, ".tile[data-member-id='self'].talking").await;
    wait_meter_moves(&client, "#call-mic-meter").await;
    // Grid view: equal tiles (the invite card sits beside them, hiding no name).
    wait_tile_sizes(&client, None, 1.0).await;
    doc_screenshot(&client, "06-grid.png", "grid.png").await;
    // Speaker view: one big tile (someone else's), the others in the strip.
    click(&client, "#btn-layout").await;
    let stage = wait_css(
        &client,
        "#room-view[data-view='speaker'] #stage .tile-camera",
    )
    .await;
    let talker = stage.attr("data-member-id").await.unwrap().unwrap();
    assert_ne!(talker, "self", "speaker view shows someone else big");
    wait_tile_sizes(&client, Some(&talker), 4.0).await;
    // Pinning Carol (a double click on her tile) puts her in the big tile.
    double_click(&client, &format!(".tile[data-member-id='{carol_id}']")).await;
    wait_css(
        &client,
        &format!("#stage .tile.pinned[data-member-id='{carol_id}']"),
    )
    .await;
    wait_tile_sizes(&client, Some(&carol_id), 4.0).await;
    doc_screenshot(&client, "07-speaker-view.png", "speaker-view.png").await;
    // The pin holds in grid view; a second double click unpins: equal tiles again.
    click(&client, "#btn-layout").await;
    wait_css(&client, "#room-view[data-view='grid']").await;
    wait_tile_sizes(&client, Some(&carol_id), 4.0).await;
    double_click(&client, &format!(".tile[data-member-id='{carol_id}']")).await;
    wait_count(&client, ".tile.pinned", 0).await;
    wait_tile_sizes(&client, None, 1.0).await;
    // `l` switches the view from the keyboard; `?` shows the shortcuts; Escape closes them.
    press(&client, "l").await;
    wait_css(&client, "#room-view[data-view='speaker']").await;
    press(&client, "l").await;
    wait_css(&client, "#room-view[data-view='grid']").await;
    press(&client, "?").await;
    let help = wait_text(&client, "#shortcuts-help").await;
    assert!(
        help.contains("Ctrl+D") && help.contains("Fullscreen"),
        "the shortcuts help says {help:?}"
    );
    doc_screenshot(&client, "08-shortcuts.png", "shortcuts.png").await;
    press(&client, "\u{e00c}").await; // Escape
    wait_count(&client, "#shortcuts-help", 0).await;
    // Settings: the microphone's level, and the speaker test.
    click(&client, "#btn-settings").await;
    wait_meter_moves(&client, "#settings-mic-meter").await;
    wait_css(&client, "#settings-test-speaker").await;
    doc_screenshot(&client, "09-settings.png", "settings.png").await;
    click(&client, "#btn-settings").await;
    wait_count(&client, "#device-picker", 0).await;
    // Fullscreen: the window covers the screen; `f` brings it back. A window
    // manager grants it: on a bare X server (CI's Xvfb) there is none to ask.
    if window_manager_runs() {
        click(&client, "#btn-fullscreen").await;
        wait_true(
            &client,
            "innerWidth === screen.width && innerHeight === screen.height",
        )
        .await;
        press(&client, "f").await;
        wait_true(&client, "innerHeight < screen.height").await;
    } else {
        eprintln!("no window manager on this display: fullscreen not checked");
    }

    // Mic and camera. The buttons show the state the server accepted (the
    // backend's own member.updated), which on loopback is at once.
    let from = bob.lines.len();
    click(&client, "#btn-mic").await;
    wait_css(&client, "#btn-mic[aria-pressed='true']").await;
    event_from(&bob, from, "member.updated", &ann_id, |p| {
        p["member"]["audio_muted"] == true
    });
    click(&client, "#btn-mic").await;
    wait_css(&client, "#btn-mic[aria-pressed='false']").await;
    event_from(&bob, from, "member.updated", &ann_id, |p| {
        p["member"]["audio_muted"] == false
    });
    let from = carol.lines.len();
    click(&client, "#btn-camera").await;
    wait_css(&client, "#btn-camera[aria-pressed='true']").await;
    event_from(&carol, from, "member.updated", &ann_id, |p| {
        p["member"]["video_muted"] == true
    });
    click(&client, "#btn-camera").await;
    wait_css(&client, "#btn-camera[aria-pressed='false']").await;
    event_from(&carol, from, "member.updated", &ann_id, |p| {
        p["member"]["video_muted"] == false
    });

    // Screen share from the app: the bots receive the screen track.
    let from = bob.lines.len();
    click(&client, "#btn-share").await;
    click(
        &client,
        "#share-picker .share-option[data-device-id='screen:0']",
    )
    .await;
    event_from(&bob, from, "track.started", &ann_id, |p| {
        p["kind"] == "screen"
    });
    let got = bob.wait_media(&ann_id, "screen", 5, SECS(15));
    let corner = got["screen_corner_colour"].as_str().unwrap_or_default();
    assert!(
        colour_distance(corner, desktop_colour) <= 40,
        "bob's copy of the shared screen has {corner} where the desktop is {desktop_colour}: {got}"
    );

    // The microphone is the PulseAudio source: bob hears its 660 Hz, not the app's own tone.
    bob.wait_pitch(&ann_id, 660.0, SECS(15));
    // The speaker plays the room: with carol quiet, its monitor carries bob's 600 Hz.
    carol.command(json!({ "cmd": "mute_audio" }));
    std::thread::sleep(SECS(1));
    let heard = conclave_media::dominant_frequency(
        &record(&format!("{speaker_sink}.monitor"), 1.0),
        48_000,
    );
    assert!(
        heard.is_some_and(|hz| (hz - 600.0).abs() <= 5.0),
        "the app's speaker played {heard:?} Hz, bob sends 600 Hz"
    );
    // Bob muted for Ann in the People panel: her speaker plays nothing of
    // him, while carol still hears him.
    click(&client, "#btn-participants").await;
    let bob_mute = format!(".participant[data-member-id='{bob_id}'] .p-mute");
    click(&client, &bob_mute).await;
    wait_css(&client, &format!("{bob_mute}[aria-pressed='true']")).await;
    std::thread::sleep(Duration::from_millis(500));
    let bob_on_the_speaker = || {
        let heard = record(&format!("{speaker_sink}.monitor"), 1.0);
        10.0 * conclave_media::tone_power(&heard, 600.0, 48_000)
            .max(1e-3)
            .log10()
    };
    let muted_for_ann = bob_on_the_speaker();
    assert!(
        muted_for_ann < 20.0,
        "bob, muted for Ann, still plays at {muted_for_ann:.1} dB on her speaker"
    );
    carol.wait_pitch(&bob_id, 600.0, SECS(5));
    doc_screenshot(&client, "03-people-muted-for-me.png", "people.png").await;
    click(&client, &bob_mute).await;
    wait_css(&client, &format!("{bob_mute}[aria-pressed='false']")).await;
    std::thread::sleep(Duration::from_millis(500));
    let unmuted = bob_on_the_speaker();
    assert!(
        unmuted > 40.0,
        "bob, unmuted for Ann, plays at {unmuted:.1} dB"
    );
    click(&client, "#btn-participants").await;
    carol.command(json!({ "cmd": "unmute_audio" }));

    // Hotplug: the speaker vanishes mid-call. The app says so, and the call goes on.
    speaker.unload();
    wait_css(&client, ".toast[data-event='speaker.disconnected']").await;
    let before = bob.summary()[&ann_id]["camera_frames"]
        .as_u64()
        .unwrap_or(0);
    bob.wait_media(&ann_id, "camera", before + 10, SECS(10));
    wait_tile_colour(&client, &bob_id, "#30c030").await;

    // Chat both ways, and whispers both ways.
    wait_css(&client, "#btn-chat").await.click().await.unwrap();
    let input = wait_css(&client, "#chat-input").await;
    input.send_keys("hello from the app").await.unwrap();
    click(&client, "#chat-send").await;
    for bot in [&bob, &carol] {
        event_from(bot, 0, "chat.message", &ann_id, |p| {
            p["text"] == "hello from the app"
        });
    }
    // Typing "l" and "p" in the chat is text, not the layout and people shortcuts.
    wait_count(&client, "#room-view[data-view='grid']", 1).await;
    wait_count(&client, "#participants-panel", 0).await;
    bob.command(json!({ "cmd": "chat", "text": "hello from bob" }));
    wait_css(&client, &format!(".chat-message[data-from='{bob_id}']")).await;
    client
        .find(Locator::Css("#chat-target"))
        .await
        .unwrap()
        .select_by_value(&bob_id)
        .await
        .unwrap();
    let picked = client
        .execute(
            "return document.querySelector('#chat-target').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(picked, json!(bob_id), "the whisper picker did not take bob");
    let input = client.find(Locator::Css("#chat-input")).await.unwrap();
    input.send_keys("psst bob").await.unwrap();
    click(&client, "#chat-send").await;

    event_from(&bob, 0, "chat.whisper", &ann_id, |p| {
        p["text"] == "psst bob"
    });
    carol.command(json!({ "cmd": "whisper", "to": ann_id, "text": "psst ann" }));
    wait_css(
        &client,
        &format!(".chat-message.whisper[data-from='{carol_id}']"),
    )
    .await;
    std::thread::sleep(SECS(1));
    assert!(
        !carol
            .lines
            .all()
            .iter()
            .any(|v| v.to_string().contains("psst bob")),
        "carol saw the whisper to bob"
    );

    // The app stops presenting; a bot shares, and its screen takes the app's stage.
    let from = bob.lines.len();
    click(&client, "#btn-share").await;
    event_from(&bob, from, "screenShare.ended", &ann_id, |_| true);
    bob.command(json!({ "cmd": "share" }));
    wait_css(
        &client,
        &format!(".tile[data-member-id='{bob_id}'][data-kind='screen']"),
    )
    .await;

    // Four members and a shared screen: the screenshot for the README.
    let dave = Bot::join(&server, "e2e", "Dave", &args("#d0a020", "1000"));
    let dave_id = dave.member_id();
    wait_count(&client, ".tile[data-kind='camera']", 4).await;
    wait_tile_colour(&client, &dave_id, "#d0a020").await;
    click(&client, "#btn-chat").await;
    tokio::time::sleep(SECS(3)).await;
    doc_screenshot(&client, "02-room-four-members-sharing.png", "stage.png").await;

    // Dave's client stalls (SIGSTOP): the server hears nothing for 4 s, and
    // his tile says he is reconnecting; resumed (SIGCONT), it does not.
    let signal = |signal: &str, pid: u32| {
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
        assert!(status.unwrap().success());
    };
    let reconnecting = format!(".tile.reconnecting[data-member-id='{dave_id}']");
    signal("-STOP", dave.pid());
    wait_css(&client, &reconnecting).await;
    screenshot(&client, "02-member-reconnecting.png").await;
    signal("-CONT", dave.pid());
    wait_true(
        &client,
        &format!("!document.querySelector(\"{reconnecting}\")"),
    )
    .await;

    // A quarter of Dave's packets are lost, both ways: his tile's connection
    // quality turns poor; the loss stops, and it is not poor any more.
    let dave_tile = format!(".tile[data-member-id='{dave_id}'][data-kind='camera']");
    wait_css(&client, &format!("{dave_tile} [data-quality]")).await;
    let poor = format!("{dave_tile} [data-quality='poor']");
    let lossy = conclave_tests::lossy::LossyProcess::new(dave.pid(), 25);
    wait_css(&client, &poor).await;
    screenshot(&client, "02-member-poor-connection.png").await;
    drop(lossy);
    let recovered =
        format!("{dave_tile} [data-quality='excellent'], {dave_tile} [data-quality='good']");
    wait_css(&client, &recovered).await;

    // The stats panel: what the app receives of Dave's camera, and what it sends.
    click(&client, "#btn-stats").await;
    let dave_row = format!(
        "#stats-panel tbody tr[data-member-id='{dave_id}'][data-kind='camera'][data-direction='downlink']"
    );
    wait_css(&client, &dave_row).await;
    // His video flows again (the seventh column is the frame rate).
    wait_true(
        &client,
        &format!("Number(document.querySelector(\"{dave_row}\").children[6].textContent) > 5"),
    )
    .await;
    wait_css(
        &client,
        "#stats-panel tbody tr[data-member-id='self'][data-direction='uplink']",
    )
    .await;
    screenshot(&client, "02-stats-panel.png").await;
    click(&client, "#btn-stats").await;

    // The host locks the meeting: a newcomer is turned away, the members see it locked.
    click(&client, "#btn-chat").await;
    click(&client, "#btn-participants").await;
    let from = bob.lines.len();
    click(&client, "#btn-lock-room").await;
    wait_css(&client, "#btn-lock-room[aria-pressed='true']").await;
    bob.wait_event_from(from, "room.updated", SECS(5), |p| p["locked"] == true)
        .expect("bob heard the meeting is locked");
    assert_eq!(
        Bot::join_refusal(&server, "e2e", &[], &["--pin-sha256", &fingerprint]),
        "room_locked",
        "a newcomer to the locked meeting is turned away"
    );
    click(&client, "#btn-lock-room").await;
    wait_css(&client, "#btn-lock-room[aria-pressed='false']").await;

    // Removing someone asks first; a double click on the answer removes one member.
    click(
        &client,
        &format!(".participant[data-member-id='{dave_id}'] .kick"),
    )
    .await;
    let question = wait_text(&client, "#confirm").await;
    assert!(
        question.contains("Remove Dave?"),
        "the confirmation says {question:?}"
    );
    screenshot(&client, "04-kick-confirmation.png").await;
    assert!(
        dave.events("room.kicked").is_empty(),
        "nobody is removed before the answer"
    );
    let yes = client.find(Locator::Css("#confirm-ok")).await.unwrap();
    yes.click().await.unwrap();
    let _ = yes.click().await; // the second click of a double click
    dave.wait_event("room.kicked", SECS(10))
        .expect("dave was removed");
    wait_count(&client, &format!(".tile[data-member-id='{dave_id}']"), 0).await;
    std::thread::sleep(SECS(1));
    for bot in [&bob, &carol] {
        assert!(
            bot.events("room.kicked").is_empty(),
            "{} was removed too",
            bot.name
        );
    }
    wait_count(&client, ".participant[data-member-id]", 3).await;

    // A reload (WebKit's Reload in a debug build, or the inspector's) comes
    // back to the live call: tiles, video and controls, and nobody saw us go.
    client.refresh().await.unwrap();
    wait_css(&client, "#room-view").await;
    wait_count(&client, ".tile[data-kind='camera']", 3).await;
    wait_tile_colour(&client, &bob_id, "#30c030").await;
    wait_tile_colour(&client, &carol_id, "#3060e0").await;
    wait_css(&client, "#btn-leave").await;
    std::thread::sleep(SECS(1));
    for bot in [&bob, &carol] {
        assert!(
            !bot.events("member.left")
                .iter()
                .any(|e| e["params"]["member_id"] == ann_id.as_str()),
            "{} saw the app leave on a reload",
            bot.name
        );
    }

    // A bot that leaves loses its tile.
    carol.command(json!({ "cmd": "leave" }));
    wait_count(&client, &format!(".tile[data-member-id='{carol_id}']"), 0).await;
    wait_count(&client, ".tile[data-kind='camera']", 2).await;

    // Leaving a meeting you host asks: keep it running, or end it for everyone.
    click(&client, "#btn-leave").await;
    wait_css(&client, "#confirm").await;
    screenshot(&client, "05-leave-while-hosting.png").await;
    click(&client, "#leave-keep-hosting").await;
    wait_css(&client, "#lobby").await;
    let note = wait_text(&client, "#still-hosting:not([hidden])").await;
    assert!(
        note.contains(&format!(":{port}")),
        "the lobby says it still hosts: {note:?}"
    );
    screenshot(&client, "03-back-in-lobby.png").await;
    event_from(&bob, 0, "member.left", &ann_id, |p| p["reason"] == "left");
    assert!(
        bob.events("room.left").is_empty(),
        "the meeting went on without its host"
    );

    // The host comes back as its moderator (the app holds the room's secret).
    click(&client, "#join").await;
    wait_css(&client, "#room-view").await;
    wait_count(
        &client,
        &format!(".tile[data-member-id='{bob_id}'][data-kind='camera']"),
        1,
    )
    .await;
    click(&client, "#btn-participants").await;
    wait_css(&client, ".participant.me[data-role='moderator']").await;

    // End for everyone: every member leaves with the new reason.
    click(&client, "#btn-leave").await;
    click(&client, "#leave-end-for-all").await;
    wait_css(&client, "#lobby").await;
    let ended = bob
        .wait_event("room.left", SECS(10))
        .expect("bob left the ended meeting");
    assert_eq!(ended["params"]["reason"], "ended", "{ended}");
    drop(dave);

    // Closing the window in a call says goodbye: the others see a leave, not
    // a member reconnecting for the grace period.
    let plain = Server::start();
    let fay = Bot::join(
        &plain,
        "closing",
        "Fay",
        &["--no-camera", "--no-microphone"],
    );
    click(&client, "#place-server").await;
    type_into(&client, "#server-address", &plain.addr().to_string()).await;
    type_into(&client, "#room", "closing").await;
    click(&client, "#join").await;
    wait_css(&client, "#room-view").await;
    let joined = fay
        .wait_event("member.joined", SECS(10))
        .expect("fay saw the app join");
    let app_id = joined["params"]["member"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // As a window manager's close button does (none runs under Xvfb).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/close_window.py");
    let closed = Command::new("/usr/bin/python3")
        .args([script, "closing — Conclave"])
        .status()
        .expect("python3-xlib is installed (scripts/install-deps.sh)");
    assert!(closed.success(), "no window to close");
    event_from(&fay, 0, "member.left", &app_id, |p| p["reason"] == "left");
    let _ = client.close().await;
}
