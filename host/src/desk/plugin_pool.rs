//! The threads that rule evaluations calling plugins run on: half the
//! cores, at a lower scheduling priority than the daemon's own threads.
//!
//! Plugins are CPU-bound, and one may spin to its time limit on every call.
//! Bounding them to half the cores leaves the other half to everyone else;
//! running them at `nice` [`PLUGIN_NICE`] makes the scheduler prefer the
//! HTTP tasks and the storage threads whenever both want a core, so a busy
//! plugin channel costs other channels' requests little even on two cores
//! (BENCHMARKS.md, "Head-of-line"). Under contention plugin calls get less
//! CPU within their time limit: a slow plugin degrades its own channel, not
//! the others.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

/// How much lower plugin threads are scheduled (0 is the default, 19 the
/// lowest): at 10 the scheduler gives a busy daemon thread about ten times
/// the CPU of a plugin thread.
const PLUGIN_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

pub(super) struct PluginPool {
    jobs: mpsc::Sender<Job>,
}

impl PluginPool {
    /// `workers` threads; jobs beyond them wait their turn.
    pub(super) fn new(workers: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers.max(1) {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("livedesk-plugin-{n}"))
                .spawn(move || work(&queue));
            if let Err(e) = started {
                tracing::error!("cannot start a plugin thread: {e}");
            }
        }
        Self { jobs }
    }

    /// Runs `f` on a plugin thread; `None` if it panicked or the pool is
    /// gone.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}

fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else {
            return;
        };
        // A panicking evaluation answers nothing (its caller hears so);
        // the thread goes on with the next.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Lowers the calling thread's priority. On Linux the nice value belongs
/// to the thread, and `PRIO_PROCESS` with no pid names the calling one.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, PLUGIN_NICE) {
        tracing::warn!("plugin threads run at normal priority: {e}");
    }
}
