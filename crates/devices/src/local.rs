//! The devices a member uses: which camera, microphone, speaker and screen
//! are chosen, the streams open on them, and what happens when one goes away.
//! The app and the bot both use [`LocalDevices`].
//!
//! The call's tracks read from feeds that outlive any device (an
//! [`AudioFeed`], [`FrameFeed`]s). Picking another device, or falling back
//! after one vanished, swaps what writes into a feed, so the call goes on.
//! Synthetic devices ([`crate::synthetic`]) write into the same feeds from
//! their own threads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conclave_media::level_dbfs;
use conclave_media::{AudioFeed, FrameFeed, I420Frame, Rgb, SyntheticScreen, TestPattern};
use conclave_protocol::{Device, DeviceKind, DeviceList, Event};

use crate::audio::{self, AudioStream};
use crate::camera::{CameraCapture, Wanted};
use crate::screen::ScreenCapture;
use crate::speaker_test::SpeakerTest;
use crate::synthetic::{self, Picture, SyntheticDevice};
use crate::watch::{Changes, DeviceWatcher};
use crate::{DeviceError, NO_SPEAKER, SYNTHETIC_SCREEN, TEST_PATTERN, TONE};

const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// How a member's devices capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The synthetic camera's size and rate, and what a real camera is asked for.
    pub camera: Wanted,
    /// The synthetic camera's test pattern carries sensor noise, so it codes
    /// like a real webcam (benchmarks).
    pub sensor_noise: bool,
    /// The rate screens (real and synthetic) are captured at.
    pub screen_fps: u32,
    /// The synthetic screen's size.
    pub synthetic_screen: (u32, u32),
}

/// What the devices tell their owner.
#[derive(Clone, Debug)]
pub enum Notice {
    /// A catalog event (`camera.updated`, `microphone.disconnected`, `devices.changed`, ...).
    Event(Event),
    /// The microphone (or camera) in use is gone and nothing replaced it: mute it in the call.
    MuteBecauseGone(DeviceKind),
    /// The screen being shared is gone: stop sharing.
    ShareGone,
}

/// What the speaker plays: fills the buffer with 48 kHz mono samples (the call's mixed audio).
pub type SpeakerSource = Arc<dyn Fn(&mut [i16]) + Send + Sync>;

type Notify = Arc<dyn Fn(Notice) + Send + Sync>;
type Preview = Box<dyn Fn(Option<&I420Frame>) + Send + Sync>;

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
    Synthetic(SyntheticDevice),
    Nothing,
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

/// A member's devices and the feeds they write into.
pub struct LocalDevices {
    pub camera_feed: FrameFeed,
    pub microphone_feed: AudioFeed,
    pub screen_feed: FrameFeed,
    settings: Settings,
    /// What the speaker plays.
    speaker_source: Arc<Mutex<Option<SpeakerSource>>>,
    /// Every camera frame, and `None` when the camera closes (the self view).
    preview: Option<Arc<Preview>>,
    /// The microphone's latest level in dBFS (f32 bits), for a meter.
    mic_level: Arc<AtomicU32>,
    speaker_test: SpeakerTest,
    inner: Mutex<Inner>,
    notify: Mutex<Option<Notify>>,
    watcher: Mutex<Option<DeviceWatcher>>,
}

impl LocalDevices {
    pub fn new(settings: Settings) -> Arc<LocalDevices> {
        Self::build(settings, None)
    }

    /// As [`LocalDevices::new`], and `preview` sees every camera frame, and
    /// `None` when the camera closes (the app's self view).
    pub fn with_camera_preview(
        settings: Settings,
        preview: impl Fn(Option<&I420Frame>) + Send + Sync + 'static,
    ) -> Arc<LocalDevices> {
        Self::build(settings, Some(Arc::new(Box::new(preview))))
    }

    fn build(settings: Settings, preview: Option<Arc<Preview>>) -> Arc<LocalDevices> {
        Arc::new(LocalDevices {
            camera_feed: FrameFeed::default(),
            microphone_feed: AudioFeed::default(),
            screen_feed: FrameFeed::default(),
            settings,
            speaker_source: Arc::default(),
            preview,
            mic_level: Arc::new(AtomicU32::new((-100f32).to_bits())),
            speaker_test: SpeakerTest::default(),
            inner: Mutex::new(Inner {
                list: crate::list(),
                ..Inner::default()
            }),
            notify: Mutex::new(None),
            watcher: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Starts watching for devices that come and go; `notify` hears of it,
    /// and of the devices picked from now on.
    pub fn watch(self: &Arc<Self>, notify: impl Fn(Notice) + Send + Sync + 'static) {
        *self.notify.lock().unwrap() = Some(Arc::new(notify));
        let this = Arc::downgrade(self);
        let watcher = DeviceWatcher::start(WATCH_PERIOD, self.list(), move |list, changes| {
            if let Some(this) = this.upgrade() {
                this.on_list_changed(list, changes);
            }
        });
        *self.watcher.lock().unwrap() = Some(watcher);
    }

    pub fn list(&self) -> DeviceList {
        self.inner.lock().unwrap().list.clone()
    }

    /// The colour and pitch of the synthetic devices opened from now on.
    pub fn set_identity(&self, colour: Rgb, pitch_hz: f32) {
        self.inner.lock().unwrap().identity = Some((colour, pitch_hz));
    }

    /// What the speaker plays (the call's remote audio); silence with `None`.
    pub fn set_speaker_source(&self, source: Option<SpeakerSource>) {
        *self.speaker_source.lock().unwrap() = source;
    }

    pub fn mic_level_dbfs(&self) -> f32 {
        f32::from_bits(self.mic_level.load(Ordering::Relaxed))
    }

    /// Plays the test tone on speaker `id` (any listed speaker, in use or not),
    /// beside what the speaker in use plays.
    pub fn play_test_sound(&self, id: &str) -> Result<(), DeviceError> {
        crate::find(&self.list(), DeviceKind::Speaker, id)
            .ok_or_else(|| DeviceError::NotFound(id.to_owned()))?;
        self.speaker_test.play(id)
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

    /// Uses device `id` for `kind` (unless it already is), and tells the owner.
    pub fn pick(self: &Arc<Self>, kind: DeviceKind, id: &str) -> Result<(), DeviceError> {
        if self.in_use(kind).is_some_and(|d| d.id == id) {
            return Ok(());
        }
        let device = crate::find(&self.list(), kind, id)
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
        if kind == DeviceKind::Camera
            && let Some(preview) = &self.preview
        {
            preview(None);
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
        let Settings {
            camera,
            sensor_noise,
            screen_fps,
            synthetic_screen: (screen_width, screen_height),
        } = self.settings;
        let source = match (device.kind, device.id.as_str()) {
            (DeviceKind::Microphone, TONE) => {
                Source::Synthetic(synthetic::tone(pitch, self.microphone_input()))
            }
            (DeviceKind::Speaker, NO_SPEAKER) => Source::Nothing,
            (DeviceKind::Camera, TEST_PATTERN) => {
                let pattern = TestPattern::new(colour, camera.width, camera.height)
                    .with_sensor_noise(sensor_noise);
                let output = self.camera_output();
                Source::Synthetic(synthetic::video(
                    Picture::Camera(pattern),
                    camera.fps,
                    output,
                ))
            }
            (DeviceKind::Screen, SYNTHETIC_SCREEN) => {
                let screen = SyntheticScreen::new(colour, screen_width, screen_height);
                let feed = self.screen_feed.clone();
                Source::Synthetic(synthetic::video(
                    Picture::Screen(screen),
                    screen_fps,
                    move |frame| feed.push(frame),
                ))
            }
            (DeviceKind::Microphone, id) => {
                Source::Audio(audio::open_microphone(id, self.microphone_input(), failed)?)
            }
            (DeviceKind::Speaker, id) => {
                let source = self.speaker_source.clone();
                Source::Audio(audio::open_speaker(
                    id,
                    move |out| match source.lock().unwrap().as_ref() {
                        Some(source) => source(out),
                        None => out.fill(0),
                    },
                    failed,
                )?)
            }
            (DeviceKind::Screen, id) => {
                let feed = self.screen_feed.clone();
                Source::Screen(ScreenCapture::start(
                    id,
                    screen_fps,
                    move |frame| feed.push(frame),
                    failed,
                )?)
            }
            (DeviceKind::Camera, id) => Source::Camera(CameraCapture::start(
                id,
                camera,
                self.camera_output(),
                failed,
            )?),
        };
        Ok(Running {
            device: device.clone(),
            _source: source,
        })
    }

    /// Where microphone samples go: to the call, and to the level meter.
    fn microphone_input(&self) -> impl FnMut(&[i16]) + Send + 'static {
        let (feed, level) = (self.microphone_feed.clone(), self.mic_level.clone());
        let mut meter = LevelMeter::default();
        move |samples| {
            feed.push(samples);
            meter.push(samples, &level);
        }
    }

    /// Where camera frames go: to the preview (the self view), and to the call.
    fn camera_output(&self) -> impl FnMut(I420Frame) + Send + 'static {
        let (feed, preview) = (self.camera_feed.clone(), self.preview.clone());
        move |frame| {
            if let Some(preview) = &preview {
                preview(Some(&frame));
            }
            feed.push(frame);
        }
    }
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
    let candidates = crate::of_kind(list, kind).iter().filter(|d| d.id != gone);
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

    fn settings() -> Settings {
        Settings {
            camera: Wanted {
                width: 320,
                height: 180,
                fps: 30,
            },
            sensor_noise: false,
            screen_fps: 10,
            synthetic_screen: (320, 180),
        }
    }

    #[test]
    fn the_synthetic_devices_write_into_the_feeds_and_say_what_was_picked() {
        let previews = Arc::new(Mutex::new(Vec::new()));
        let seen = previews.clone();
        let devices = LocalDevices::with_camera_preview(settings(), move |frame| {
            seen.lock().unwrap().push(frame.map(|f| f.width))
        });
        let notices = Arc::new(Mutex::new(Vec::new()));
        let heard = notices.clone();
        *devices.notify.lock().unwrap() = Some(Arc::new(move |n| heard.lock().unwrap().push(n)));
        devices.set_identity(Rgb::new(200, 40, 40), 500.0);
        for (kind, id) in [
            (DeviceKind::Camera, TEST_PATTERN),
            (DeviceKind::Microphone, TONE),
            (DeviceKind::Screen, SYNTHETIC_SCREEN),
            (DeviceKind::Speaker, NO_SPEAKER),
        ] {
            devices.pick(kind, id).unwrap();
            assert_eq!(devices.in_use(kind).unwrap().id, id);
        }
        std::thread::sleep(Duration::from_millis(300));
        let (camera, screen) = (
            devices.camera_feed.newer_than(0).expect("camera frames").1,
            devices.screen_feed.newer_than(0).expect("screen frames").1,
        );
        assert_eq!((camera.width, camera.height), (320, 180));
        assert!(conclave_media::mean_colour(&camera).distance(Rgb::new(200, 40, 40)) <= 30);
        assert!(conclave_media::looks_like_synthetic_screen(
            &screen,
            Rgb::new(200, 40, 40)
        ));
        let mut pcm = vec![0i16; 4800];
        assert!(devices.microphone_feed.take(&mut pcm), "100 ms of tone");
        let hz = conclave_media::dominant_frequency(&pcm, audio::SAMPLE_RATE).unwrap();
        assert!((hz - 500.0).abs() < 3.0, "the tone at {hz} Hz");
        assert!(devices.mic_level_dbfs() > -20.0, "the meter hears it");

        devices.close(DeviceKind::Camera);
        assert_eq!(devices.in_use(DeviceKind::Camera), None);
        let previews = previews.lock().unwrap().clone();
        assert!(previews.len() > 3 && previews[..3] == [Some(320); 3]);
        assert_eq!(previews.last(), Some(&None), "the self view is told");
        let updated: Vec<_> = notices
            .lock()
            .unwrap()
            .iter()
            .filter_map(|n| match n {
                Notice::Event(event) => Some(event.name()),
                _ => None,
            })
            .collect();
        assert_eq!(
            updated,
            ["camera.updated", "microphone.updated", "speaker.updated"],
            "screens have no updated event"
        );
    }
}
