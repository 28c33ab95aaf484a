//! Device figures through the real SFU on loopback (ignored by the normal
//! test run; `scripts/bench.py --only devices` runs them in release, with
//! PulseAudio and an Xvfb display of 1920×1080):
//!
//! - mouth-to-ear audio latency: beeps played into a PulseAudio null sink
//!   ("mouth"), captured from its monitor by one bot (`--microphone`), sent
//!   through the SFU to another bot that plays them on a second null sink
//!   ("ear", `--speaker`). This process records both monitors with the same
//!   kind of stream and times the beeps on one clock (see
//!   `conclave_tests::onsets`), so the delay is PulseAudio in to PulseAudio
//!   out. Prints `{"audio_latency": ...}` for each case: the microphone
//!   unprocessed, processed as the app does, and processed in 10 ms frames.
//! - screen share at 1080p: one bot shares the X display (`--screen`), which
//!   shows an xterm, static text and then text scrolling at 50 lines a second;
//!   another bot receives. Prints `{"screen_share": ...}` per case: frames
//!   decoded per second and received bitrate over the window, and the
//!   bitrate of each second (a still screen is sent for a few seconds after
//!   it changed, until it is sharp, then not at all).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_devices::audio;
use conclave_tests::onsets::{TimedRecording, delays};
use conclave_tests::pulse::PulseModule;
use conclave_tests::{Bot, Server};
use serde_json::{Value, json};

const RATE: u32 = audio::SAMPLE_RATE;
/// A beep every 400 ms: longer than any delay we expect, so beeps pair up.
const BEEP_EVERY: f64 = 0.4;
const BEEP_SECS: f64 = 0.03;
const BEEP_HZ: f64 = 1000.0;

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn null_sink(name: &str) -> PulseModule {
    PulseModule::load(&[
        "module-null-sink",
        &format!("sink_name={name}"),
        "rate=48000",
        "channels=1",
    ])
}

/// Records `source` on a cpal stream, stamping each callback against `epoch`.
fn timed_recording(
    source: &str,
    epoch: Instant,
) -> (Arc<Mutex<TimedRecording>>, audio::AudioStream) {
    let recording = Arc::new(Mutex::new(TimedRecording::default()));
    let sink = recording.clone();
    let stream = audio::open_microphone(
        &format!("pulse:{source}"),
        move |samples| {
            let now = epoch.elapsed().as_secs_f64();
            sink.lock().unwrap().push(samples, now, RATE);
        },
        |err| panic!("recording failed: {err}"),
    )
    .expect("open the recording stream");
    (recording, stream)
}

/// How the talker sends, for each latency case: its microphone as it is,
/// processed as the app does, and processed in 10 ms Opus frames.
const LATENCY_CASES: [(&str, &[&str]); 3] = [
    ("unprocessed, 20 ms frames", &[]),
    ("processed, 20 ms frames", &["--voice-processing"]),
    (
        "processed, 10 ms frames",
        &["--voice-processing", "--audio-frame-ms", "10"],
    ),
];

#[test]
#[ignore = "a benchmark: scripts/bench.py --only devices runs it"]
fn mouth_to_ear_latency() {
    let seconds = env_secs("BENCH_SECONDS", 20);
    let _mouth = null_sink("bench_mouth");
    let _ear = null_sink("bench_ear");
    let server = Server::start();
    for (case, (name, flags)) in LATENCY_CASES.iter().enumerate() {
        let room = format!("latency{case}");
        let mut talker_flags = vec!["--no-camera", "--microphone", "pulse:bench_mouth.monitor"];
        talker_flags.extend_from_slice(flags);
        let talker = Bot::join(&server, &room, "talker", &talker_flags);
        let listener = Bot::join(
            &server,
            &room,
            "listener",
            &[
                "--no-camera",
                "--no-microphone",
                "--speaker",
                "pulse:bench_ear",
            ],
        );
        std::thread::sleep(Duration::from_secs(2)); // media connected, jitter buffer settled
        let mut figures = beep_latency(seconds);
        figures["case"] = json!(name);
        println!("{}", json!({ "audio_latency": figures }));
        drop((talker, listener));
    }
}

/// Beeps into the mouth for `seconds`, and how much later the ear hears each.
fn beep_latency(seconds: u64) -> Value {
    let epoch = Instant::now();
    let (sent, _sent_stream) = timed_recording("bench_mouth.monitor", epoch);
    let (heard, _heard_stream) = timed_recording("bench_ear.monitor", epoch);
    let mut position = 0usize;
    let _beeper = audio::open_speaker(
        "pulse:bench_mouth",
        move |out| {
            for sample in out.iter_mut() {
                let t = position as f64 / RATE as f64;
                let in_beep = t % BEEP_EVERY < BEEP_SECS;
                let wave = (t * BEEP_HZ * std::f64::consts::TAU).sin();
                *sample = if in_beep { (wave * 16_000.0) as i16 } else { 0 };
                position += 1;
            }
        },
        |err| panic!("beeper failed: {err}"),
    )
    .expect("open the beeper");
    std::thread::sleep(Duration::from_secs(seconds));

    let (threshold, quiet) = (3_000, RATE as usize / 10);
    let sent = sent.lock().unwrap().onset_times(threshold, quiet, RATE);
    let heard = heard.lock().unwrap().onset_times(threshold, quiet, RATE);
    let in_order = delays(&sent, &heard, BEEP_EVERY - BEEP_SECS);
    let mut got = in_order.clone();
    got.sort_by(f64::total_cmp);
    assert!(
        got.len() * 10 >= sent.len() * 8 && sent.len() >= 10,
        "{} beeps sent, {} heard, {} paired",
        sent.len(),
        heard.len(),
        got.len()
    );
    let ms = |q| (percentile(&got, q) * 1000.0 * 10.0).round() / 10.0;
    json!({
        "beeps_sent": sent.len(), "beeps_heard": got.len(),
        "p50_ms": ms(0.5), "p95_ms": ms(0.95), "min_ms": ms(0.0), "max_ms": ms(1.0),
        "each_ms": in_order.iter().map(|d| (d * 1000.0).round()).collect::<Vec<_>>(),
    })
}

/// An xterm covering the 1920×1080 display (6×13 font: 320×83 cells) running `script`.
fn xterm(script: &str) -> Child {
    Command::new("xterm")
        .args(["-geometry", "320x83+0+0", "-bg", "white", "-fg", "black"])
        .args(["-e", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm is installed (scripts/install-deps.sh)")
}

/// Screen frames and bytes the receiver has from `member` so far.
fn screen_counts(receiver: &mut Bot, member: &str) -> (f64, f64, Value) {
    let summary = receiver.summary();
    let entry = &summary[member];
    (
        entry["screen_frames"].as_f64().unwrap_or(0.0),
        entry["screen_bytes"].as_f64().unwrap_or(0.0),
        entry["screen_size"].clone(),
    )
}

#[test]
#[ignore = "a benchmark: scripts/bench.py --only devices runs it"]
fn screen_share_static_and_scrolling() {
    let seconds = env_secs("BENCH_SECONDS", 20) as f64;
    let server = Server::start();
    let sharer = Bot::join(
        &server,
        "screens",
        "sharer",
        &[
            "--no-camera",
            "--no-microphone",
            "--screen",
            "screen:0",
            "--share-screen",
            "--screen-fps",
            "10",
            "--screen-kbps",
            "1500",
        ],
    );
    let mut receiver = Bot::join(
        &server,
        "screens",
        "receiver",
        &["--no-camera", "--no-microphone"],
    );
    let sharer_id = sharer.member_id();
    // A page of text, either still or scrolling line by line.
    let text = "for i in $(seq 1 3000); do echo \"$i  the quick brown fox jumps over the lazy dog; \
                fn main() { println!(\\\"hello, conclave\\\"); } // screen-content coding keeps text sharp\"; done";
    let cases = [
        ("static", format!("{text} | head -n 82; sleep 3600")),
        (
            "scrolling",
            format!("{text} | while read line; do echo \"$line\"; sleep 0.02; done"),
        ),
    ];
    for (name, script) in cases {
        let mut window = xterm(&script);
        std::thread::sleep(Duration::from_secs(1)); // the window is up and drawn
        // Sampled each second: a static screen costs bits until the encoder
        // has refined it, then almost none, so the series says more than a mean.
        let (frames0, bytes0, _) = screen_counts(&mut receiver, &sharer_id);
        let started = Instant::now();
        let mut per_second_kbps = Vec::new();
        let mut last_bytes = bytes0;
        for _ in 0..seconds as u64 {
            std::thread::sleep(Duration::from_secs(1));
            let (_, bytes, _) = screen_counts(&mut receiver, &sharer_id);
            per_second_kbps.push(((bytes - last_bytes) * 8.0 / 1000.0).round());
            last_bytes = bytes;
        }
        let (frames1, bytes1, size) = screen_counts(&mut receiver, &sharer_id);
        let elapsed = started.elapsed().as_secs_f64();
        let _ = window.kill();
        let _ = window.wait();
        // A still screen is sent until refined, then not at all.
        assert!(frames1 > 0.0, "{name}: no screen frames arrived");
        if name == "scrolling" {
            assert!(frames1 > frames0, "{name}: the scrolling screen stopped");
        }
        println!(
            "{}",
            json!({ "screen_share": {
                "case": name, "size": size, "seconds": (elapsed * 10.0).round() / 10.0,
                "fps": ((frames1 - frames0) / elapsed * 10.0).round() / 10.0,
                "kbps": ((bytes1 - bytes0) * 8.0 / elapsed / 1000.0).round(),
                "last_half_kbps": per_second_kbps[per_second_kbps.len() / 2..].iter().sum::<f64>()
                    / (per_second_kbps.len() - per_second_kbps.len() / 2) as f64,
                "per_second_kbps": per_second_kbps,
            }})
        );
    }
}
