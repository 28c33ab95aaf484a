//! The microphone's processing in a real call, on the PulseAudio that
//! `scripts/test.sh` starts: a speaker that leaks into the microphone.
//!
//! Bob plays what he receives into the air of his room (a null sink), and
//! his microphone is that sink's monitor: it hears his speaker, and his own
//! voice played into the same air. Alice speaks (espeak-ng's speech on her
//! microphone) and plays what she receives on a null sink of her own, which
//! the test records: what alice hears of bob.
//! (A steady tone would not do for the far end: echo cancellers of the AEC3
//! kind leave most of a stationary tone's echo, see BENCHMARKS.md.)
//!
//! Then bob speaks in a noisy room (the same speech, in pink noise), and
//! what alice hears is measured against the clean speech.

use std::thread;
use std::time::Duration;

use conclave_media::{speech_snr_db, tone_power};
use conclave_tests::pulse::{
    Microphone, PulseModule, noisy_speech_file, read_wav, record, speech_file,
};
use conclave_tests::{Bot, Server};
use serde_json::json;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const NEAR_HZ: f64 = 700.0;

/// Bob's speaker, leaking into his microphone through the air of his room.
/// (A loopback from a speaker sink into the air, the other way to build it,
/// changes its delay now and then as PulseAudio adjusts its latency; each
/// change is an echo path the canceller has to learn again.)
struct LeakyRoom {
    speaker: String,
    microphone: Microphone,
}

impl LeakyRoom {
    fn load(tag: &str) -> LeakyRoom {
        let microphone = Microphone::load(&format!("{tag}_microphone"));
        LeakyRoom {
            speaker: microphone.air.clone(),
            microphone,
        }
    }
}

/// What alice's speaker played, second by second.
struct Heard {
    /// Each second's power, in dB (of i16 units).
    power: Vec<f64>,
    /// Each second's power at the near-end tone's pitch.
    near: Vec<f64>,
}

impl Heard {
    fn record(alice_speaker: &str, seconds: u32) -> Heard {
        let samples = record(&format!("{alice_speaker}.monitor"), seconds as f32);
        let db = |power: f64| 10.0 * power.max(1e-3).log10();
        let seconds = samples.chunks_exact(48_000);
        Heard {
            power: (seconds.clone())
                .map(|s| db(s.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / 48_000.0))
                .collect(),
            near: seconds
                .map(|s| db(tone_power(s, NEAR_HZ, 48_000)))
                .collect(),
        }
    }

    /// The median second: a few hundred ms of echo while the canceller
    /// re-adapts (reported apart, see [`Heard::loudest`]) do not move it.
    fn median(values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn power(&self) -> f64 {
        Self::median(&self.power)
    }

    fn loudest(&self) -> f64 {
        self.power.iter().copied().fold(f64::MIN, f64::max)
    }

    fn near(&self) -> f64 {
        Self::median(&self.near)
    }
}

fn voice(bot: &mut Bot, on: bool) {
    let reply = bot.command(json!({
        "cmd": "voice",
        "echo_cancellation": on,
        "noise_suppression": on,
        "gain_control": on,
        "high_pass": on,
    }));
    assert_eq!(reply["ok"], true, "{reply}");
}

/// Whether alice sees bob talking now.
fn talking_now(alice: &Bot, bob_id: &str) -> bool {
    (alice.events("member.talking").iter())
        .rfind(|v| v["params"]["member_id"] == bob_id)
        .is_some_and(|v| v["params"]["talking"] == true)
}

/// How often alice was told that bob started talking.
fn talking_starts(alice: &Bot, bob_id: &str) -> usize {
    (alice.events("member.talking").iter())
        .filter(|v| v["params"]["member_id"] == bob_id && v["params"]["talking"] == true)
        .count()
}

#[test]
fn a_speaker_leaking_into_the_microphone_is_not_heard_back_and_double_talk_is_kept() {
    let tag = format!("conclave_voice_{}", std::process::id());
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).unwrap();
    let speech = speech_file(&dir, 120);
    let mut alice_microphone = Microphone::load(&format!("{tag}_alice_microphone"));
    alice_microphone.play(&speech);
    let alice_speaker = format!("{tag}_alice_speaker");
    let _alice_sink =
        PulseModule::load(&["module-null-sink", &format!("sink_name={alice_speaker}")]);
    let mut room = LeakyRoom::load(&tag);

    let server = Server::start();
    let (alice_in, alice_out) = (
        format!("pulse:{}", alice_microphone.name),
        format!("pulse:{alice_speaker}"),
    );
    let mut alice = Bot::join(
        &server,
        "voice",
        "alice",
        &[
            "--no-camera",
            "--microphone",
            &alice_in,
            "--speaker",
            &alice_out,
        ],
    );
    let (bob_in, bob_out) = (
        format!("pulse:{}", room.microphone.name),
        format!("pulse:{}", room.speaker),
    );
    let mut bob = Bot::join(
        &server,
        "voice",
        "bob",
        &[
            "--no-camera",
            "--microphone",
            &bob_in,
            "--speaker",
            &bob_out,
            "--voice-processing",
        ],
    );
    let (alice_id, bob_id) = (alice.member_id(), bob.member_id());
    bob.wait_media(&alice_id, "microphone", 50, SECS(15));
    // Bob is silent, so he sends little (DTX); his first packets came.
    alice.wait_media(&bob_id, "microphone", 1, SECS(15));

    // Bob is silent: only alice's voice from his speaker reaches his microphone.
    thread::sleep(SECS(4));
    let processed = Heard::record(&alice_speaker, 8);
    let falsely = talking_starts(&alice, &bob_id);
    // Unprocessed, the same echo comes through, and makes him talking: the rig leaks.
    voice(&mut bob, false);
    thread::sleep(SECS(1));
    let unprocessed = Heard::record(&alice_speaker, 6);
    assert!(
        talking_now(&alice, &bob_id),
        "without processing bob's echo does not make him talking: the rig does not leak"
    );
    voice(&mut bob, true);

    // Bob talks (a steady tone). Alone first, alice muted: his voice without echo.
    let _bob_talks = room.microphone.sine(NEAR_HZ);
    assert_eq!(alice.command(json!({ "cmd": "mute_audio" }))["ok"], true);
    thread::sleep(SECS(3));
    let near_alone = Heard::record(&alice_speaker, 3).near();
    // Double talk: alice's voice leaks into bob's microphone while he talks.
    assert_eq!(alice.command(json!({ "cmd": "unmute_audio" }))["ok"], true);
    thread::sleep(SECS(3));
    let near_double_talk = Heard::record(&alice_speaker, 6).near();
    let (echo_unprocessed, echo_processed) = (unprocessed.power(), processed.power());
    eprintln!(
        "alice hears her echo from bob at {echo_unprocessed:.1} dB unprocessed, \
         {echo_processed:.1} dB processed (median seconds; the loudest processed {:.1} dB); bob's {NEAR_HZ} Hz at {near_alone:.1} dB alone, \
         {near_double_talk:.1} dB in double talk; his echo made him talking {falsely} times \
         processed",
        processed.loudest()
    );
    assert!(
        echo_unprocessed - echo_processed >= 25.0,
        "the echo is only {:.1} dB lower with processing",
        echo_unprocessed - echo_processed
    );
    assert!(
        (near_double_talk - near_alone).abs() <= 3.0,
        "bob's voice is {near_double_talk:.1} dB in double talk against {near_alone:.1} dB alone"
    );
    // While the canceller re-learns a changed echo path, up to a few seconds
    // of echo get through (the loudest second above): they must not make
    // bob talking.
    assert_eq!(falsely, 0, "bob, silent, was made talking by his echo");

    // Noise: bob speaks in a noisy room; alice is quiet.
    drop(_bob_talks);
    assert_eq!(alice.command(json!({ "cmd": "mute_audio" }))["ok"], true);
    room.microphone
        .play(&noisy_speech_file(&dir, &speech, 10.0));
    let clean = read_wav(&speech);
    let snr = |seconds| {
        let heard = record(&format!("{alice_speaker}.monitor"), seconds);
        speech_snr_db(&clean, &heard).expect("alice hears bob's speech, with its pauses")
    };
    voice(&mut bob, false);
    thread::sleep(SECS(1));
    let snr_unprocessed = snr(8.0);
    // Turned on again, the noise suppressor starts afresh (not from the
    // tone it took for noise above) and learns this noise in a few seconds.
    voice(&mut bob, true);
    thread::sleep(SECS(3));
    let snr_processed = snr(8.0);
    eprintln!(
        "bob's speech in pink noise reaches alice at an SNR of {snr_unprocessed:.1} dB \
         unprocessed, {snr_processed:.1} dB processed"
    );
    assert!(
        snr_processed - snr_unprocessed >= 10.0,
        "noise suppression gains only {:.1} dB of SNR",
        snr_processed - snr_unprocessed
    );
    let _ = std::fs::remove_dir_all(&dir);
}
