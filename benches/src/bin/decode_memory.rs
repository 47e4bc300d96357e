//! Peak extra heap per profile decoded, against the profile's uncompressed size (goal ≤ 3×), and
//! the time flamestream's capped gunzip takes to stop a gzip bomb (64 MiB of zeros) against the
//! time it takes to inflate 4 MiB (the default `max_decompressed_bytes`).
//!
//! ```sh
//! cargo run --release -p flamestream-benches --bin decode_memory
//! ```
//!
//! Heap is counted by a `#[global_allocator]` wrapper around the system allocator that keeps
//! the bytes currently allocated and their high-water mark; "peak extra" is the high-water
//! mark during one call minus what was allocated before it. It counts requested bytes (not
//! the allocator's rounding or RSS). The process is single-threaded while measuring.

use flamestream_benches::{all_fixtures, compare, fmt_ns, plain_gunzip, verdict, Ingest};
use flamestream_formats::{gunzip_size_check, maybe_gunzip, DecodeError};
use flamestream_pipeline::aggregate::Aggregator;
use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

mod counting {
    //! The counting allocator: the only unsafe code of this crate (implementing `GlobalAlloc`
    //! is unsafe by definition; every call is forwarded to mimalloc (the service's allocator) unchanged).
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    /// mimalloc, counting.
    pub struct Counting;

    fn grew(n: usize) {
        let now = CURRENT.fetch_add(n, Relaxed) + n;
        PEAK.fetch_max(now, Relaxed);
    }

    fn shrank(n: usize) {
        CURRENT.fetch_sub(n, Relaxed);
    }

    // SAFETY: every method forwards to mimalloc with the caller's arguments, so mimalloc's
    // guarantees hold; the counters only observe sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            let p = unsafe { mimalloc::MiMalloc.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) };
            shrank(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded unchanged.
            let p = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                if new_size >= layout.size() {
                    grew(new_size - layout.size());
                } else {
                    shrank(layout.size() - new_size);
                }
            }
            p
        }
    }

    /// Bytes allocated now; the high-water mark is reset to it.
    pub fn reset_peak() -> usize {
        let now = CURRENT.load(Relaxed);
        PEAK.store(now, Relaxed);
        now
    }

    /// The high-water mark since [`reset_peak`].
    pub fn peak() -> usize {
        PEAK.load(Relaxed)
    }

    /// Bytes allocated now.
    pub fn current() -> usize {
        CURRENT.load(Relaxed)
    }
}

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Peak extra heap while `f` runs, and what it still holds when it returns.
fn peak_extra<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    let base = counting::reset_peak();
    let out = f();
    let peak = counting::peak() - base;
    let held = counting::current().saturating_sub(base);
    (peak, held, out)
}

/// [`peak_extra`] on a new thread, so that the buffers a decoding thread keeps from one upload
/// to the next start empty and their growth is charged to this call (the cold case; a warm
/// thread needs less). Also returns what the thread still holds once `f`'s result is dropped:
/// the buffers it keeps for its next upload.
fn peak_extra_cold<T: Send>(f: impl FnOnce() -> T + Send) -> (usize, usize, usize) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let base = counting::current();
            let (peak, held, out) = peak_extra(f);
            drop(out);
            let kept = counting::current().saturating_sub(base);
            (peak, held, kept)
        })
        .join()
        .expect("the measured call does not panic")
    })
}

fn mib(n: usize) -> String {
    format!("{:.2} MiB", n as f64 / (1024.0 * 1024.0))
}

fn kib(n: usize) -> String {
    format!("{:.0} KiB", n as f64 / 1024.0)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

fn memory_table(ingest: &Ingest) {
    println!(
        "peak extra heap per profile (requested bytes) / uncompressed size; goal ≤ 3× for the whole path"
    );
    println!(
        "columns: raw = uncompressed size; gunzip = the capped gunzip alone; decode = decode alone \
         from the inflated bytes; dec+agg = decode + aggregate from the inflated bytes; whole = \
         capped gunzip + decode + aggregate from the gzipped body (the judged figure); held = what \
         the aggregator's window keeps afterwards; kept = the working buffers the decoding thread \
         keeps for its next upload. Each figure is taken on a new thread: those buffers start \
         empty and their growth is counted"
    );
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7} {:>8}",
        "fixture", "raw", "gunzip", "decode", "dec+agg", "whole", "×raw", "held", "kept", "verdict"
    );
    for f in all_fixtures() {
        let gz = f.load();
        let raw = plain_gunzip(&gz);
        // Warm up lazily initialised statics so they are not charged to the first fixture.
        drop(ingest.decode(f.kind, &gz));
        // The whole path from the gzipped body: capped gunzip + decode + aggregate.
        let (whole, held, kept) = peak_extra_cold(|| {
            let mut agg = Aggregator::new(10);
            ingest.decode_aggregate(f.kind, &gz, &mut agg, 0);
            agg
        });
        // The capped gunzip alone.
        let (gunzip, _, _) = peak_extra_cold(|| {
            maybe_gunzip(&gz, false, ingest.limits.max_decompressed_bytes)
                .map(|c| c.len())
                .ok()
        });
        // Decode alone, then decode + aggregate, the inflated bytes already in memory.
        let (decode, _, _) =
            peak_extra_cold(|| ingest.decode(f.kind, &raw).map(|u| u.parts.len()).ok());
        let (dec_agg, _, _) = peak_extra_cold(|| {
            let mut agg = Aggregator::new(10);
            ingest.decode_aggregate(f.kind, &raw, &mut agg, 0);
            agg.open_stacks()
        });
        let ratio = whole as f64 / raw.len() as f64;
        println!(
            "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6.2}× {:>9} {:>7} {:>8}",
            format!("{} ({})", f.name, f.what),
            kib(raw.len()),
            kib(gunzip),
            kib(decode),
            kib(dec_agg),
            kib(whole),
            ratio,
            kib(held),
            kib(kept),
            verdict(ratio <= 3.0)
        );
    }
}

fn bomb(ingest: &Ingest) {
    let cap = ingest.limits.max_decompressed_bytes;
    let bomb = gzip(&vec![0u8; 64 << 20]);
    let at_cap = gzip(&vec![0u8; cap as usize]);
    println!(
        "\ngzip bomb: 64 MiB of zeros gzipped to {} bytes; cap max_decompressed_bytes = {}",
        bomb.len(),
        mib(cap as usize)
    );
    // It must be stopped, with the limit error, and within bounded memory.
    let (peak, _, res) = peak_extra(|| maybe_gunzip(&bomb, true, cap).map(|c| c.len()));
    match res {
        Err(DecodeError::Limit(l)) => println!(
            "maybe_gunzip stopped it: `{}` actual {} > max {}; peak extra heap {}",
            l.limit,
            l.actual,
            l.max,
            mib(peak)
        ),
        other => panic!("the bomb was not stopped: {other:?}"),
    }
    let (peak_check, _, res) =
        peak_extra(|| gunzip_size_check(&bomb, cap, 4096).map(|c| c.inflated_bytes));
    assert!(
        matches!(res, Err(DecodeError::Limit(_))),
        "edge size check did not stop the bomb: {res:?}"
    );
    println!(
        "gunzip_size_check (the edge's streamed check) stopped it too; peak extra heap {}",
        mib(peak_check)
    );
    let per_round = Duration::from_millis(150);
    let c = compare(
        15,
        per_round,
        || {
            black_box(
                maybe_gunzip(black_box(&at_cap), false, cap)
                    .map(|c| c.len())
                    .ok(),
            );
        },
        || {
            black_box(maybe_gunzip(black_box(&bomb), false, cap).err());
        },
    );
    println!(
        "time to stop the bomb {} vs to inflate 4 MiB (at the cap) {}: ratio {:.2}× [{:.2}–{:.2}] (median of {} interleaved rounds)",
        fmt_ns(c.measured_ns),
        fmt_ns(c.baseline_ns),
        c.ratio,
        c.ratio_min,
        c.ratio_max,
        c.rounds
    );
    let e = compare(
        15,
        per_round,
        || {
            black_box(
                maybe_gunzip(black_box(&at_cap), false, cap)
                    .map(|c| c.len())
                    .ok(),
            );
        },
        || {
            black_box(gunzip_size_check(black_box(&bomb), cap, 4096).err());
        },
    );
    println!(
        "edge size check on the bomb {} vs inflating 4 MiB {}: ratio {:.2}×",
        fmt_ns(e.measured_ns),
        fmt_ns(e.baseline_ns),
        e.ratio
    );
}

fn main() {
    let ingest = Ingest::new();
    memory_table(&ingest);
    bomb(&ingest);
}
