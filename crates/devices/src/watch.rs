//! Devices that come and go. [`changes`] is the sans-IO core (two lists in,
//! the difference out); [`DeviceWatcher`] polls [`crate::list`] on a thread
//! and reports each difference.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conclave_protocol::{Device, DeviceList};

use crate::of_kind;

/// What changed between two device lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<Device>,
    pub removed: Vec<Device>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The devices in `new` but not `old` (added) and in `old` but not `new` (removed).
pub fn changes(old: &DeviceList, new: &DeviceList) -> Changes {
    let all = |list: &DeviceList| -> Vec<Device> {
        use conclave_protocol::DeviceKind::*;
        [Camera, Microphone, Speaker, Screen]
            .into_iter()
            .flat_map(|kind| of_kind(list, kind).to_vec())
            .collect()
    };
    let (old, new) = (all(old), all(new));
    let same = |a: &Device, b: &Device| a.id == b.id && a.kind == b.kind;
    Changes {
        added: new
            .iter()
            .filter(|d| !old.iter().any(|o| same(o, d)))
            .cloned()
            .collect(),
        removed: old
            .iter()
            .filter(|d| !new.iter().any(|n| same(n, d)))
            .cloned()
            .collect(),
    }
}

/// Polls the device lists every `period` on its own thread until dropped.
pub struct DeviceWatcher {
    stop: Arc<AtomicBool>,
}

impl DeviceWatcher {
    /// Compares each new list with the last one, starting from `known` (the
    /// list the caller already has). `on_change` gets the new list and what
    /// changed, from the watcher thread.
    pub fn start(
        period: Duration,
        mut known: DeviceList,
        mut on_change: impl FnMut(&DeviceList, &Changes) + Send + 'static,
    ) -> DeviceWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        std::thread::Builder::new()
            .name("device-watch".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    let now = crate::list();
                    let diff = changes(&known, &now);
                    if !diff.is_empty() {
                        on_change(&now, &diff);
                        known = now;
                    }
                }
            })
            .expect("spawn the device watcher");
        DeviceWatcher { stop }
    }
}

impl Drop for DeviceWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_protocol::DeviceKind;

    fn device(id: &str, kind: DeviceKind) -> Device {
        Device {
            id: id.into(),
            label: id.into(),
            kind,
            synthetic: false,
        }
    }

    #[test]
    fn reports_what_came_and_what_went_by_kind_and_id() {
        let old = DeviceList {
            speakers: vec![
                device("pulse:a", DeviceKind::Speaker),
                device("pulse:b", DeviceKind::Speaker),
            ],
            microphones: vec![device("pulse:a.monitor", DeviceKind::Microphone)],
            ..Default::default()
        };
        let mut new = old.clone();
        new.speakers.remove(0);
        new.cameras.push(device("v4l:0", DeviceKind::Camera));
        let diff = changes(&old, &new);
        assert_eq!(diff.removed, vec![device("pulse:a", DeviceKind::Speaker)]);
        assert_eq!(diff.added, vec![device("v4l:0", DeviceKind::Camera)]);
        assert!(changes(&new, &new).is_empty());
    }
}
