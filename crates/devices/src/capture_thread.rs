//! One thread per capture. The device is opened on that thread (the handles
//! of `scrap` and `nokhwa` are not `Send`), the caller learns whether that
//! worked, and the thread captures until the capture is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::DeviceError;

/// A running capture thread; dropping it asks the thread to stop.
pub struct CaptureThread {
    stop: Arc<AtomicBool>,
}

impl CaptureThread {
    /// Runs `open` on a new thread called `name`. If it fails, so does this;
    /// otherwise this returns what `open` reported about the device, and the
    /// thread goes on with `run` until the returned handle is dropped.
    pub fn spawn<Device, Info: Send + 'static>(
        name: &str,
        open: impl FnOnce() -> Result<(Device, Info), DeviceError> + Send + 'static,
        run: impl FnOnce(Device, &AtomicBool) + Send + 'static,
    ) -> Result<(CaptureThread, Info), DeviceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || match open() {
                Ok((device, info)) => {
                    let _ = opened_tx.send(Ok(info));
                    run(device, &thread_stop);
                }
                Err(err) => {
                    let _ = opened_tx.send(Err(err));
                }
            })
            .map_err(|e| DeviceError::Failed(name.to_owned(), e.to_string()))?;
        let info = opened_rx
            .recv()
            .map_err(|_| DeviceError::Failed(name.to_owned(), "capture thread died".into()))??;
        Ok((CaptureThread { stop }, info))
    }
}

impl Drop for CaptureThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
