//! The wasmtime engine and the clock that interrupts plugins.
//!
//! One engine serves both kinds of plugin: conditions are called
//! synchronously on the routing path (no fiber to switch to, which keeps a
//! call in the microseconds), agents asynchronously because they wait on
//! HTTP. It uses the pooling allocator, so a fresh instance per call costs
//! a few page resets rather than an mmap, and epoch interruption, which
//! bounds a call's wall time at the price of one counter check per loop
//! header.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

use crate::config::PluginLimits;

/// How often the epoch advances: the granularity of plugin timeouts.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Instances whose memory is given back to the kernel in one batch: each
/// `madvise` flushes the TLB of every core, so doing it once per batch
/// rather than once per call keeps a call in the tens of microseconds.
const DECOMMIT_BATCH: usize = 32;
/// Bytes of each pooled memory and table that stay resident between
/// instances. With `PAGEMAP_SCAN` (Linux 6.7+) only the pages a call
/// dirtied are reset, and they stay mapped, so the next call takes no page
/// faults on them; without it, this much is reset with `memset`.
const KEEP_RESIDENT: usize = 2 << 20;
/// Plugin instances alive at once.
const POOLED_INSTANCES: u32 = 128;

pub fn engine() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOLED_INSTANCES)
        // Components built by componentize-py or componentize-js hold a
        // dozen core instances, a few memories and large tables.
        .total_core_instances(POOLED_INSTANCES * 32)
        .total_memories(POOLED_INSTANCES * 4)
        .total_tables(POOLED_INSTANCES * 16)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        .max_core_instances_per_component(64)
        .table_elements(100_000)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(1 << 20)
        .max_memory_size(usize::try_from(PluginLimits::MAX.memory).unwrap_or(usize::MAX))
        .total_stacks(POOLED_INSTANCES)
        .decommit_batch_size(DECOMMIT_BATCH)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// The number of epoch ticks that covers `timeout`, plus one because the
/// current tick may be nearly over.
pub fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    u64::try_from(timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`] until
/// dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("livedesk-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
