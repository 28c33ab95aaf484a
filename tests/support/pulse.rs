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
