//! The devices the app uses: which camera, microphone, speaker and screen
//! are chosen, the streams open on them, and what happens when one goes away.
//!
//! The call's tracks read from feeds that outlive any device (an
//! [`AudioFeed`], [`FrameFeed`]s). Picking another device, or falling back
//! after one vanished, swaps what writes into a feed, so the call goes on.
//! Synthetic devices write into the same feeds from their own threads (a
//! tone, the test pattern, the synthetic screen), so the app works with no
//! hardware and tests drive the same paths as real devices.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_client::{AudioFeed, FrameFeed, RemoteMedia};
use conclave_devices::audio::{self, AudioStream};
use conclave_devices::camera::{self, CameraCapture};
use conclave_devices::screen::ScreenCapture;
use conclave_devices::watch::{Changes, DeviceWatcher};
use conclave_devices::{DeviceError, NO_SPEAKER, SYNTHETIC_SCREEN, TEST_PATTERN, TONE};
use conclave_media::{I420Frame, Rgb, SyntheticScreen, TestPattern, ToneSource, level_dbfs};
use conclave_protocol::{Device, DeviceKind, DeviceList, Event};

use crate::frames::FrameHub;

/// Camera size and rate: the synthetic camera's, and what a real camera is asked for.
pub const CAMERA_SIZE: (u32, u32, u32) = (640, 360, 30);
/// Screens are captured at a screen-friendly rate: text stays sharp, motion matters less.
pub const SCREEN_FPS: u32 = 10;
const SYNTHETIC_SCREEN_SIZE: (u32, u32) = (1280, 720);
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// What the device layer tells the rest of the app.
pub enum Notice {
    /// A catalog event for the UI.
    Event(Event),
    /// The microphone (or camera) in use is gone and nothing replaced it: mute it in the call.
    MuteBecauseGone(DeviceKind),
    /// The screen being shared is gone: stop sharing.
    ShareGone,
}

type Notify = Arc<dyn Fn(Notice) + Send + Sync>;

/// One open device: dropping it closes the stream or stops its thread.
struct Running {
    device: Device,
    _source: Source,
}

/// Held only to be dropped: that closes the device.
#[allow(dead_code)]
enum Source {
    Audio(AudioStream),
    Camera(CameraCapture),
    Screen(ScreenCapture),
    Thread(StopOnDrop),
    Nothing,
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Inner {
    list: DeviceList,
    camera: Option<Running>,
    microphone: Option<Running>,
    speaker: Option<Running>,
    screen: Option<Running>,
    /// Colour and pitch of this member's synthetic devices.
    identity: Option<(Rgb, f32)>,
}

impl Inner {
    fn slot(&mut self, kind: DeviceKind) -> &mut Option<Running> {
        match kind {
            DeviceKind::Camera => &mut self.camera,
            DeviceKind::Microphone => &mut self.microphone,
            DeviceKind::Speaker => &mut self.speaker,
            DeviceKind::Screen => &mut self.screen,
        }
    }
}

pub struct LocalDevices {
    pub camera_feed: FrameFeed,
    pub microphone_feed: AudioFeed,
    pub screen_feed: FrameFeed,
    /// The call's remote media, which the speaker plays.
    remote: Arc<Mutex<Option<Arc<RemoteMedia>>>>,
    /// The microphone's latest level in dBFS (f32 bits), for the lobby meter.
    mic_level: Arc<AtomicU32>,
    frames: Arc<FrameHub>,
    inner: Mutex<Inner>,
    notify: Mutex<Option<Notify>>,
    _watcher: Mutex<Option<DeviceWatcher>>,
}

impl LocalDevices {
    pub fn new(frames: Arc<FrameHub>) -> Arc<LocalDevices> {
        Arc::new(LocalDevices {
            camera_feed: FrameFeed::default(),
            microphone_feed: AudioFeed::default(),
            screen_feed: FrameFeed::default(),
            remote: Arc::default(),
            mic_level: Arc::new(AtomicU32::new((-100f32).to_bits())),
            frames,
            inner: Mutex::new(Inner {
                list: conclave_devices::list(),
                ..Inner::default()
            }),
            notify: Mutex::new(None),
            _watcher: Mutex::new(None),
        })
    }

    /// Starts watching for devices that come and go; `notify` hears of it.
    pub fn watch(self: &Arc<Self>, notify: impl Fn(Notice) + Send + Sync + 'static) {
        *self.notify.lock().unwrap() = Some(Arc::new(notify));
        let this = Arc::downgrade(self);
        let watcher = DeviceWatcher::start(WATCH_PERIOD, self.list(), move |list, changes| {
            if let Some(this) = this.upgrade() {
                this.on_list_changed(list, changes);
            }
        });
        *self._watcher.lock().unwrap() = Some(watcher);
    }

    pub fn list(&self) -> DeviceList {
        self.inner.lock().unwrap().list.clone()
    }

    pub fn set_identity(&self, colour: Rgb, pitch_hz: f32) {
        self.inner.lock().unwrap().identity = Some((colour, pitch_hz));
    }

    pub fn set_remote(&self, remote: Option<Arc<RemoteMedia>>) {
        *self.remote.lock().unwrap() = remote;
    }

    pub fn mic_level_dbfs(&self) -> f32 {
        f32::from_bits(self.mic_level.load(Ordering::Relaxed))
    }

    /// The device of `kind` in use, if any.
    pub fn in_use(&self, kind: DeviceKind) -> Option<Device> {
        self.inner
            .lock()
            .unwrap()
            .slot(kind)
            .as_ref()
            .map(|r| r.device.clone())
    }

    /// Uses device `id` for `kind` (unless it already is), and tells the UI.
    pub fn pick(self: &Arc<Self>, kind: DeviceKind, id: &str) -> Result<(), DeviceError> {
        if self.in_use(kind).is_some_and(|d| d.id == id) {
            return Ok(());
        }
        let device = conclave_devices::find(&self.list(), kind, id)
            .ok_or_else(|| DeviceError::NotFound(id.to_owned()))?;
        let running = self.open(&device)?;
        let previous = self
            .inner
            .lock()
            .unwrap()
            .slot(kind)
            .replace(running)
            .map(|r| r.device.clone());
        if let Some(event) = updated(kind, previous, device) {
            self.emit(event);
        }
        Ok(())
    }

    /// Closes the device of `kind` (a share that ended, the lobby left).
    pub fn close(&self, kind: DeviceKind) {
        let old = self.inner.lock().unwrap().slot(kind).take();
        drop(old);
        if kind == DeviceKind::Camera {
            self.frames.set_preview(None);
        }
    }

    fn emit(&self, event: Event) {
        self.tell(Notice::Event(event));
    }

    fn tell(&self, notice: Notice) {
        let notify = self.notify.lock().unwrap().clone();
        if let Some(notify) = notify {
            notify(notice);
        }
    }

    fn on_list_changed(self: &Arc<Self>, list: &DeviceList, changes: &Changes) {
        self.inner.lock().unwrap().list = list.clone();
        self.emit(Event::DevicesChanged {
            added: changes.added.clone(),
            removed: changes.removed.clone(),
        });
        for gone in &changes.removed {
            if self.in_use(gone.kind).is_some_and(|d| d.id == gone.id) {
                self.device_gone(gone.kind, &gone.id);
            }
        }
    }

    /// The device in use for `kind` vanished or failed: fall back and tell everyone.
    fn device_gone(self: &Arc<Self>, kind: DeviceKind, id: &str) {
        let Some(gone) = self.in_use(kind).filter(|d| d.id == id) else {
            return; // already replaced
        };
        self.close(kind);
        if kind == DeviceKind::Screen {
            let error = DeviceError::NotFound(format!("{} (sharing stopped)", gone.label));
            self.emit(Event::Error {
                error: error.into(),
                request: Some("start_share".into()),
            });
            self.tell(Notice::ShareGone);
            return;
        }
        let list = self.list();
        let fallback = fallback_for(&list, kind, id)
            .and_then(|device| self.open(&device).ok().map(|running| (device, running)));
        let fallback_device = fallback.as_ref().map(|(d, _)| d.clone());
        if let Some((_, running)) = fallback {
            *self.inner.lock().unwrap().slot(kind) = Some(running);
        }
        tracing::warn!(?kind, device = %gone.label, fallback = ?fallback_device.as_ref().map(|d| &d.label), "device gone");
        if let Some(event) = disconnected(kind, gone.clone(), fallback_device.clone()) {
            self.emit(event);
        }
        match fallback_device {
            Some(current) => {
                if let Some(event) = updated(kind, Some(gone), current) {
                    self.emit(event);
                }
            }
            None if kind != DeviceKind::Speaker => self.tell(Notice::MuteBecauseGone(kind)),
            None => {}
        }
    }

    fn open(self: &Arc<Self>, device: &Device) -> Result<Running, DeviceError> {
        let (colour, pitch) = self
            .inner
            .lock()
            .unwrap()
            .identity
            .unwrap_or((Rgb::new(90, 110, 200), 440.0));
        let failed = {
            let this = Arc::downgrade(self);
            let (kind, id) = (device.kind, device.id.clone());
            move |err: DeviceError| {
                tracing::warn!(%err, "device failed");
                if let Some(this) = this.upgrade() {
                    // Not on the device's own thread: closing it may join that thread.
                    std::thread::spawn(move || this.device_gone(kind, &id));
                }
            }
        };
        let source = match (device.kind, device.id.as_str()) {
            (DeviceKind::Microphone, TONE) => Source::Thread(self.tone_thread(pitch)),
            (DeviceKind::Speaker, NO_SPEAKER) => Source::Nothing,
            (DeviceKind::Camera, TEST_PATTERN) => Source::Thread(self.pattern_thread(colour)),
            (DeviceKind::Screen, SYNTHETIC_SCREEN) => {
                Source::Thread(self.synthetic_screen_thread(colour))
            }
            (DeviceKind::Microphone, id) => {
                let (feed, level) = (self.microphone_feed.clone(), self.mic_level.clone());
                let mut meter = LevelMeter::default();
                Source::Audio(audio::open_microphone(
                    id,
                    move |samples| {
                        feed.push(samples);
                        meter.push(samples, &level);
                    },
                    failed,
                )?)
            }
            (DeviceKind::Speaker, id) => {
                let remote = self.remote.clone();
                Source::Audio(audio::open_speaker(
                    id,
                    move |out| match remote.lock().unwrap().as_ref() {
                        Some(remote) => remote.mix(out),
                        None => out.fill(0),
                    },
                    failed,
                )?)
            }
            (DeviceKind::Screen, id) => {
                let feed = self.screen_feed.clone();
                Source::Screen(ScreenCapture::start(
                    id,
                    SCREEN_FPS,
                    move |frame| feed.push(frame),
                    failed,
                )?)
            }
            (DeviceKind::Camera, id) => {
                let (width, height, fps) = CAMERA_SIZE;
                let wanted = camera::Wanted { width, height, fps };
                Source::Camera(CameraCapture::start(
                    id,
                    wanted,
                    self.camera_output(),
                    failed,
                )?)
            }
        };
        Ok(Running {
            device: device.clone(),
            _source: source,
        })
    }

    /// The synthetic microphone: a tone at the member's pitch, in real time, 10 ms at a time.
    fn tone_thread(&self, pitch: f32) -> StopOnDrop {
        let (feed, level) = (self.microphone_feed.clone(), self.mic_level.clone());
        spawn_paced("tone", Duration::from_millis(10), move || {
            let mut tone = ToneSource::new(pitch, audio::SAMPLE_RATE);
            let mut meter = LevelMeter::default();
            let mut chunk = vec![0i16; audio::SAMPLE_RATE as usize / 100];
            move || {
                tone.next_samples(&mut chunk);
                feed.push(&chunk);
                meter.push(&chunk, &level);
            }
        })
    }

    /// Where camera frames go: to the call, and to the self view.
    fn camera_output(&self) -> impl Fn(I420Frame) + Send + 'static {
        let (feed, frames) = (self.camera_feed.clone(), self.frames.clone());
        move |frame| {
            frames.set_preview(Some((Arc::new(frame.clone()), crate::call::now_ms())));
            feed.push(frame);
        }
    }

    /// The synthetic camera: the test pattern at the camera's size and rate.
    fn pattern_thread(&self, colour: Rgb) -> StopOnDrop {
        let output = self.camera_output();
        let (width, height, fps) = CAMERA_SIZE;
        spawn_paced("test-pattern", Duration::from_secs(1) / fps, move || {
            let mut pattern = TestPattern::new(colour, width, height);
            let mut n = 0;
            move || {
                n += 1;
                let now_us = (crate::call::now_ms() * 1000.0) as u64;
                output(pattern.render(n, now_us).clone());
            }
        })
    }

    fn synthetic_screen_thread(&self, colour: Rgb) -> StopOnDrop {
        let feed = self.screen_feed.clone();
        let (width, height) = SYNTHETIC_SCREEN_SIZE;
        spawn_paced(
            "synthetic-screen",
            Duration::from_secs(1) / SCREEN_FPS,
            move || {
                let mut screen = SyntheticScreen::new(colour, width, height);
                let mut n = 0;
                move || {
                    n += 1;
                    let now_us = (crate::call::now_ms() * 1000.0) as u64;
                    feed.push(screen.render(n, now_us).clone());
                }
            },
        )
    }
}

/// Runs the step that `make` builds on a thread, every `period`, until dropped.
fn spawn_paced<F: FnMut() + 'static>(
    name: &str,
    period: Duration,
    make: impl FnOnce() -> F + Send + 'static,
) -> StopOnDrop {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut step = make();
            let mut next = Instant::now();
            while !thread_stop.load(Ordering::Relaxed) {
                step();
                next += period;
                match next.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait),
                    None => next = Instant::now(),
                }
            }
        })
        .expect("spawn a synthetic device thread");
    StopOnDrop(stop)
}

/// The microphone level, updated every 100 ms from whatever the microphone gives.
#[derive(Default)]
struct LevelMeter(Vec<i16>);

impl LevelMeter {
    fn push(&mut self, samples: &[i16], level: &AtomicU32) {
        self.0.extend_from_slice(samples);
        if self.0.len() >= audio::SAMPLE_RATE as usize / 10 {
            level.store(level_dbfs(&self.0).to_bits(), Ordering::Relaxed);
            self.0.clear();
        }
    }
}

/// What to use when device `gone` of `kind` disappears: another real device
/// of that kind; for a speaker, at worst the silent one. A microphone never
/// falls back to a monitor (it would send the call back into itself), and
/// neither a microphone nor a camera falls back to a synthetic source: a test
/// tone in a meeting is worse than being muted.
pub fn fallback_for(list: &DeviceList, kind: DeviceKind, gone: &str) -> Option<Device> {
    let candidates = conclave_devices::of_kind(list, kind)
        .iter()
        .filter(|d| d.id != gone);
    let mut real = candidates
        .clone()
        .filter(|d| !d.synthetic && !d.id.ends_with(".monitor"));
    match kind {
        DeviceKind::Speaker => real
            .next()
            .or_else(|| candidates.clone().find(|d| d.id == NO_SPEAKER))
            .cloned(),
        _ => real.next().cloned(),
    }
}

/// `<kind>.updated`; screens have none (sharing has its own events).
fn updated(kind: DeviceKind, previous: Option<Device>, current: Device) -> Option<Event> {
    Some(match kind {
        DeviceKind::Camera => Event::CameraUpdated { previous, current },
        DeviceKind::Microphone => Event::MicrophoneUpdated { previous, current },
        DeviceKind::Speaker => Event::SpeakerUpdated { previous, current },
        DeviceKind::Screen => return None,
    })
}

fn disconnected(kind: DeviceKind, device: Device, fallback: Option<Device>) -> Option<Event> {
    Some(match kind {
        DeviceKind::Camera => Event::CameraDisconnected { device, fallback },
        DeviceKind::Microphone => Event::MicrophoneDisconnected { device, fallback },
        DeviceKind::Speaker => Event::SpeakerDisconnected { device, fallback },
        DeviceKind::Screen => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, kind: DeviceKind, synthetic: bool) -> Device {
        Device {
            id: id.into(),
            label: id.into(),
            kind,
            synthetic,
        }
    }

    #[test]
    fn fallbacks_prefer_real_devices_never_monitors_and_a_speaker_ends_silent() {
        let list = DeviceList {
            microphones: vec![
                device(TONE, DeviceKind::Microphone, true),
                device("pulse:a.monitor", DeviceKind::Microphone, false),
                device("pulse:mic1", DeviceKind::Microphone, false),
                device("pulse:mic2", DeviceKind::Microphone, false),
            ],
            speakers: vec![
                device(NO_SPEAKER, DeviceKind::Speaker, true),
                device("pulse:a", DeviceKind::Speaker, false),
            ],
            ..DeviceList::default()
        };
        let id = |d: Option<Device>| d.map(|d| d.id);
        assert_eq!(
            id(fallback_for(&list, DeviceKind::Microphone, "pulse:mic1")),
            Some("pulse:mic2".into())
        );
        let mut only_monitor = list.clone();
        only_monitor.microphones.truncate(3);
        assert_eq!(
            id(fallback_for(
                &only_monitor,
                DeviceKind::Microphone,
                "pulse:mic1"
            )),
            None,
            "muted, not the tone or a monitor"
        );
        assert_eq!(
            id(fallback_for(&list, DeviceKind::Speaker, "pulse:a")),
            Some(NO_SPEAKER.into())
        );
        assert_eq!(id(fallback_for(&list, DeviceKind::Camera, "v4l:0")), None);
    }
}
