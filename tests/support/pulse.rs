//! PulseAudio for the tests: modules they load (null sinks, sine sources)
//! and recordings of a sink's monitor. `scripts/test.sh` starts PulseAudio.

use std::process::{Command, Stdio};

/// A PulseAudio module this test loaded (a null sink, a sine source);
/// unloaded when dropped. `scripts/test.sh` starts PulseAudio.
pub struct PulseModule(pub String);

impl PulseModule {
    pub fn load(args: &[&str]) -> PulseModule {
        let out = Command::new("pactl")
            .arg("load-module")
            .args(args)
            .output()
            .expect("pactl (pulseaudio-utils) is installed");
        assert!(
            out.status.success(),
            "pactl load-module {args:?}: {} (is PulseAudio running? scripts/test.sh starts it)",
            String::from_utf8_lossy(&out.stderr)
        );
        PulseModule(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub fn unload(&self) {
        let _ = Command::new("pactl")
            .args(["unload-module", &self.0])
            .status();
    }
}

impl Drop for PulseModule {
    fn drop(&mut self) {
        self.unload();
    }
}

/// Records `seconds` of what `source` (a sink's monitor) hears: 48 kHz mono.
pub fn record(source: &str, seconds: f32) -> Vec<i16> {
    let mut child = Command::new("parec")
        .args([
            "--device",
            source,
            "--rate=48000",
            "--channels=1",
            "--format=s16le",
            "--raw",
            "--latency-msec=20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec (pulseaudio-utils) is installed");
    let mut stdout = child.stdout.take().unwrap();
    let wanted = (48_000.0 * seconds) as usize * 2;
    let mut bytes = vec![0u8; wanted];
    let read = std::io::Read::read_exact(&mut stdout, &mut bytes);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("parec records");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// A microphone of its own in PulseAudio: a null sink (the air it hears)
/// and a source remapped from the sink's monitor (a monitor itself is never
/// a fallback). What plays into the sink is what it hears: [`Microphone::sine`],
/// [`Microphone::play`], or another stream. Dropping it unloads both.
pub struct Microphone {
    pub name: String,
    /// The air's sink.
    pub air: String,
    // Fields drop in this order: the source first, then what feeds it.
    source: PulseModule,
    player: Option<std::process::Child>,
    _sink: PulseModule,
}

impl Microphone {
    pub fn load(name: &str) -> Microphone {
        let air = format!("{name}_air");
        let _sink = PulseModule::load(&["module-null-sink", &format!("sink_name={air}")]);
        let source = PulseModule::load(&[
            "module-remap-source",
            &format!("master={air}.monitor"),
            &format!("source_name={name}"),
        ]);
        Microphone {
            name: name.to_owned(),
            air,
            source,
            player: None,
            _sink,
        }
    }

    /// A steady tone in the air, until the module is dropped.
    pub fn sine(&self, hz: f64) -> PulseModule {
        PulseModule::load(&[
            "module-sine",
            &format!("sink={}", self.air),
            &format!("frequency={hz}"),
        ])
    }

    /// Plays a sound file into the air (once; see [`speech_file`]), instead of what played before.
    pub fn play(&mut self, file: &std::path::Path) {
        self.stop();
        let player = Command::new("paplay")
            .arg(format!("--device={}", self.air))
            .arg(file)
            .spawn()
            .expect("paplay (pulseaudio-utils) is installed");
        self.player = Some(player);
    }

    pub fn stop(&mut self) {
        if let Some(mut player) = self.player.take() {
            let _ = player.kill();
            let _ = player.wait();
        }
    }

    /// The microphone vanishes (unplugged).
    pub fn unplug(&self) {
        self.source.unload();
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `seconds` of speech from espeak-ng at 48 kHz mono, as a WAV file in
/// `dir`: the same sentences over and over, with a pause between them.
pub fn speech_file(dir: &std::path::Path, seconds: u32) -> std::path::PathBuf {
    let spoken = dir.join("spoken.wav");
    let status = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&spoken)
        .arg("The meeting starts at nine. Please share your screen when you are ready, and tell us what you found.")
        .status()
        .expect("espeak-ng is installed (scripts/install-deps.sh)");
    assert!(status.success(), "espeak-ng failed");
    let speech = dir.join("speech.wav");
    let status = Command::new("sox")
        .arg(&spoken)
        .args(["-r", "48000", "-c", "1", "-b", "16"])
        .arg(&speech)
        .args([
            "pad",
            "0",
            "0.4",
            "repeat",
            "40",
            "trim",
            "0",
            &seconds.to_string(),
        ])
        .status()
        .expect("sox is installed (scripts/install-deps.sh)");
    assert!(status.success(), "sox failed");
    speech
}

/// `speech` (a WAV file of [`speech_file`]) in steady pink noise, `snr_db`
/// below it (of the whole file's power, pauses included), as a WAV file
/// in `dir`: a microphone in a noisy room.
pub fn noisy_speech_file(
    dir: &std::path::Path,
    speech: &std::path::Path,
    snr_db: f64,
) -> std::path::PathBuf {
    let clean = read_wav(speech);
    let power = clean.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / clean.len() as f64;
    let seconds = clean.len() as f64 / 48_000.0;
    let noise = dir.join("noise.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&noise)
        .args(["synth", &format!("{seconds}"), "pinknoise"])
        .status()
        .expect("sox is installed (scripts/install-deps.sh)");
    assert!(status.success(), "sox synth failed");
    let noise_samples = read_wav(&noise);
    let noise_power = noise_samples
        .iter()
        .map(|s| f64::from(*s).powi(2))
        .sum::<f64>()
        / noise_samples.len() as f64;
    let scale = (power / noise_power / 10f64.powf(snr_db / 10.0)).sqrt();
    let noisy = dir.join("noisy_speech.wav");
    let status = Command::new("sox")
        .args(["-m", "-v", "1"])
        .arg(speech)
        .args(["-v", &format!("{scale}")])
        .arg(&noise)
        .arg(&noisy)
        .status()
        .expect("sox is installed (scripts/install-deps.sh)");
    assert!(status.success(), "sox mix failed");
    noisy
}

/// A sound file's samples, as 48 kHz mono i16.
pub fn read_wav(file: &std::path::Path) -> Vec<i16> {
    let out = Command::new("sox")
        .arg(file)
        .args([
            "-t", "raw", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-",
        ])
        .output()
        .expect("sox is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "sox could not read {}",
        file.display()
    );
    (out.stdout.chunks_exact(2))
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}
