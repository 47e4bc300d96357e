//! Java Flight Recorder parser: turns a (gunzipped) JFR recording into a
//! [`flamestream_model::Profile`], one series per profile type and context label set.
//!
//! A recording is a sequence of chunks. Each chunk is read on its own: the metadata event
//! gives every class's field layout (nothing about event layouts is hard-coded, so any
//! JVM or async-profiler version parses), the constant pools give stack traces, methods,
//! classes and symbols, and then the events are scanned once. Stack traces are kept as
//! indices of distinct (method, line) pairs; symbols stay encoded in the chunk. Profiling
//! events are summed per (stack trace id, context, sample kind) with integer keys, without
//! allocating; when the chunk ends each (method, line) pair that a sampled stack uses is named
//! once, the pools are dropped, and the sums are added to the series.
//!
//! Events and the series they feed (Pyroscope's rules, see `tests/golden.rs`):
//!
//! | event | series |
//! |---|---|
//! | `jdk.ExecutionSample` (thread not `STATE_SLEEPING`) | `process_cpu:cpu:nanoseconds:cpu:nanoseconds` |
//! | `jdk.ExecutionSample` when the recording's `event` setting is `wall`, `profiler.WallClockSample` (× `samples`) | `wall:wall:nanoseconds:wall:nanoseconds` |
//! | `jdk.ObjectAllocationInNewTLAB` | `memory:alloc_in_new_tlab_objects:count` + `alloc_in_new_tlab_bytes:bytes` (`tlabSize`) |
//! | `jdk.ObjectAllocationOutsideTLAB` | `memory:alloc_outside_tlab_objects:count` + `alloc_outside_tlab_bytes:bytes` (`allocationSize`) |
//! | `jdk.ObjectAllocationSample` | `memory:alloc_sample_objects:count` + `alloc_sample_bytes:bytes` (`weight`) |
//! | `jdk.JavaMonitorEnter` | `mutex:contentions:count` + `mutex:delay:nanoseconds` |
//! | `jdk.ThreadPark` | `block:contentions:count` + `block:delay:nanoseconds` |
//! | `profiler.LiveObject` | `memory:live:count:objects:count` (average) |
//! | `profiler.Malloc` | `memory:malloc_objects:count` + `malloc_bytes:bytes` |
//!
//! Frames are named `Class.method:line` (class names keep the JVM's `/` separators; native
//! frames are `library.symbol:0`), stacks are root first.

mod labels;
mod metadata;
mod pools;
mod reader;
mod symbols;

pub use labels::{parse_labels_snapshot, LabelsSnapshot};

use flamestream_model::{Aggregation, LabelSet, Limits, Profile, ProfileType};
use metadata::{read_scalar, skip_field, Scalar, Types};
use pools::{Names, Pools, ThreadState};
use reader::{ReadError, Reader, Res};
use rustc_hash::FxHashMap;

/// Why a recording could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JfrError {
    /// Not a JFR file, or a structure that does not parse.
    #[error("jfr recording is invalid: {0}")]
    Invalid(String),
    /// A limit was exceeded.
    #[error(transparent)]
    Limit(#[from] flamestream_model::LimitExceeded),
}

/// How frames are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Append `:line` to every frame name (`java/lang/Thread.run:833`). Without it frames are
    /// named by function only (`java/lang/Thread.run`), as Pyroscope's flame graphs show them.
    pub line_numbers: bool,
    /// Convert `jdk.JavaMonitorEnter` / `jdk.ThreadPark` durations from ticks to
    /// nanoseconds with the chunk's `ticksPerSecond`. Pyroscope does not (its `delay` values
    /// are raw ticks, which equal nanoseconds only where ticks are nanoseconds), so the
    /// default is off to stay comparable with it.
    pub convert_ticks: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            line_numbers: true,
            convert_ticks: false,
        }
    }
}

/// Parses `jfr` (uncompressed) with an optional uncompressed `LabelsSnapshot` protobuf.
///
/// # Errors
/// [`JfrError`] naming what is wrong.
pub fn decode(
    jfr: &[u8],
    labels_snapshot: Option<&[u8]>,
    sample_rate: u32,
    limits: &Limits,
) -> Result<Profile, JfrError> {
    decode_with(
        jfr,
        labels_snapshot,
        sample_rate,
        limits,
        &DecodeOptions::default(),
    )
}

/// [`decode`] with [`DecodeOptions`].
///
/// # Errors
/// [`JfrError`] naming what is wrong.
pub fn decode_with(
    jfr: &[u8],
    labels_snapshot: Option<&[u8]>,
    sample_rate: u32,
    limits: &Limits,
    options: &DecodeOptions,
) -> Result<Profile, JfrError> {
    let snapshot = match labels_snapshot {
        Some(b) => Some(parse_labels_snapshot(b).map_err(JfrError::Invalid)?),
        None => None,
    };
    if jfr.is_empty() {
        return Err(JfrError::Invalid("recording is empty".into()));
    }
    let mut out = Output::new(snapshot, sample_rate, limits, options);
    out.budget = expansion_budget(jfr.len());
    out.input_len = jfr.len();
    let mut state = State::default();
    let mut pos = 0usize;
    let mut number = 0usize;
    while pos < jfr.len() {
        number += 1;
        let size = decode_chunk(jfr, pos, &mut state, &mut out)
            .map_err(|e| JfrError::Invalid(format!("chunk {number} at offset `{pos}`: {}", e.0)))?;
        pos += size;
    }
    Ok(out.finish())
}

const HEADER_SIZE: usize = 68;
/// Distinct label sets past which per-request labels (`profile_id`, `trace_id`) are dropped.
const MAX_LABEL_SETS: usize = 4096;

/// Most frame ids all series together may hold: stacks are stored once per series, so a
/// small recording could otherwise expand into gigabytes (many label sets × deep stacks).
fn expansion_budget(input_len: usize) -> u64 {
    (input_len as u64).saturating_mul(8).saturating_add(1 << 20)
}
const MAGIC: &[u8; 4] = b"FLR\0";
/// A frame key not named yet.
const UNNAMED: u32 = u32::MAX;
/// A frame key whose method is unknown.
const NO_FRAME: u32 = u32::MAX - 1;

/// What events do, found by class name in each chunk's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Execution,
    WallClock,
    InNewTlab,
    OutsideTlab,
    AllocationSample,
    MonitorEnter,
    ThreadPark,
    LiveObject,
    Malloc,
    ActiveSetting,
}

impl EventKind {
    fn by_name(name: &str) -> Option<(EventKind, Option<&'static str>)> {
        Some(match name {
            "jdk.ExecutionSample" => (EventKind::Execution, None),
            "profiler.WallClockSample" => (EventKind::WallClock, Some("samples")),
            "jdk.ObjectAllocationInNewTLAB" => (EventKind::InNewTlab, Some("tlabSize")),
            "jdk.ObjectAllocationOutsideTLAB" => (EventKind::OutsideTlab, Some("allocationSize")),
            "jdk.ObjectAllocationSample" => (EventKind::AllocationSample, Some("weight")),
            "jdk.JavaMonitorEnter" => (EventKind::MonitorEnter, Some("duration")),
            "jdk.ThreadPark" => (EventKind::ThreadPark, Some("duration")),
            "profiler.LiveObject" => (EventKind::LiveObject, None),
            "profiler.Malloc" => (EventKind::Malloc, Some("size")),
            "jdk.ActiveSetting" => (EventKind::ActiveSetting, None),
            _ => return None,
        })
    }
}

/// The profiles built, as Pyroscope's JFR converter builds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
enum SampleKind {
    Cpu,
    Wall,
    InNewTlab,
    OutsideTlab,
    Lock,
    Park,
    Live,
    AllocationSample,
    Malloc,
}

impl SampleKind {
    /// The series types (one or two values) and how they aggregate.
    fn series(self, sample_rate: u32) -> (Vec<ProfileType>, Aggregation) {
        let p = ProfileType::new;
        let timed = |kind: &str, st: &str| {
            if sample_rate == 0 {
                p(kind, "samples", "count", st, "nanoseconds")
            } else {
                p(kind, st, "nanoseconds", st, "nanoseconds")
            }
        };
        let mem = |objects: &str, bytes: &str| {
            vec![
                p("memory", objects, "count", "space", "bytes"),
                p("memory", bytes, "bytes", "space", "bytes"),
            ]
        };
        match self {
            SampleKind::Cpu => (vec![timed("process_cpu", "cpu")], Aggregation::Sum),
            SampleKind::Wall => (vec![timed("wall", "wall")], Aggregation::Sum),
            SampleKind::InNewTlab => (
                mem("alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes"),
                Aggregation::Sum,
            ),
            SampleKind::OutsideTlab => (
                mem("alloc_outside_tlab_objects", "alloc_outside_tlab_bytes"),
                Aggregation::Sum,
            ),
            SampleKind::AllocationSample => (
                mem("alloc_sample_objects", "alloc_sample_bytes"),
                Aggregation::Sum,
            ),
            SampleKind::Lock => (
                vec![
                    p("mutex", "contentions", "count", "mutex", "count"),
                    p("mutex", "delay", "nanoseconds", "mutex", "count"),
                ],
                Aggregation::Sum,
            ),
            SampleKind::Park => (
                vec![
                    p("block", "contentions", "count", "block", "count"),
                    p("block", "delay", "nanoseconds", "block", "count"),
                ],
                Aggregation::Sum,
            ),
            SampleKind::Live => (
                vec![p("memory", "live", "count", "objects", "count")],
                Aggregation::Average,
            ),
            // Pyroscope sets no period type for native allocations.
            SampleKind::Malloc => (
                vec![
                    p("memory", "malloc_objects", "count", "", ""),
                    p("memory", "malloc_bytes", "bytes", "", ""),
                ],
                Aggregation::Sum,
            ),
        }
    }

    fn is_timed(self) -> bool {
        matches!(self, SampleKind::Cpu | SampleKind::Wall)
    }

    fn is_delay(self) -> bool {
        matches!(self, SampleKind::Lock | SampleKind::Park)
    }
}

/// Fields of an event that matter, by slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Stack,
    State,
    Context,
    SpanId,
    SpanName,
    TraceHi,
    TraceLo,
    Value,
    Name,
    Text,
}

const NUM_SLOTS: usize = 8;

/// The compiled layout of one event class.
struct Layout {
    kind: EventKind,
    class: usize,
    slots: Vec<Option<Slot>>,
    has_value: bool,
}

/// State that lives across chunks.
#[derive(Default)]
struct State {
    /// The value of the last `jdk.ActiveSetting` named `event` (`cpu`, `itimer`, `wall`…).
    event: String,
    /// `event == "wall"`.
    wall: bool,
}

/// What ties a sample to labels: context id, span id, span name id, trace id (high, low).
type Correlation = [u64; 5];

/// Sums of one chunk: (stack id, correlation index, kind) → values. Correlations are numbered
/// per chunk, so that the key is two words whatever the labels.
#[derive(Default)]
struct ChunkSums {
    sums: FxHashMap<(u64, u32, SampleKind), [i64; 2]>,
    /// Correlation index → correlation.
    corrs: Vec<Correlation>,
    corr_index: FxHashMap<Correlation, u32>,
    /// The last correlation looked up and its index (most events repeat it).
    last: Option<(Correlation, u32)>,
}

impl ChunkSums {
    #[inline]
    fn corr(&mut self, corr: Correlation) -> u32 {
        if let Some((c, i)) = self.last {
            if c == corr {
                return i;
            }
        }
        let next = self.corrs.len() as u32;
        let i = *self.corr_index.entry(corr).or_insert(next);
        if i == next {
            self.corrs.push(corr);
        }
        self.last = Some((corr, i));
        i
    }
}

fn decode_chunk(jfr: &[u8], pos: usize, state: &mut State, out: &mut Output<'_>) -> Res<usize> {
    let left = jfr.len() - pos;
    if left < HEADER_SIZE {
        return Err(ReadError::new(format!(
            "header truncated: `{left}` bytes left, need `{HEADER_SIZE}`"
        )));
    }
    let mut h = Reader::new(&jfr[pos..pos + HEADER_SIZE], 0, false);
    let magic = h.bytes(4)?;
    if magic != MAGIC {
        return Err(ReadError::new(format!(
            "bad magic `{}`, expected `FLR\\0`",
            magic.escape_ascii()
        )));
    }
    let major = h.be_u16()?;
    let _minor = h.be_u16()?;
    if major != 1 && major != 2 {
        return Err(ReadError::new(format!(
            "unsupported format version `{major}`"
        )));
    }
    let size = h.be_u64()?;
    let cp_offset = h.be_u64()?;
    let meta_offset = h.be_u64()?;
    let _start_nanos = h.be_u64()?;
    let _duration_nanos = h.be_u64()?;
    let _start_ticks = h.be_u64()?;
    let ticks_per_second = h.be_u64()?;
    let features = h.be_u32()?;
    if size < HEADER_SIZE as u64 || size > left as u64 {
        return Err(ReadError::new(format!(
            "chunk size `{size}` outside `{HEADER_SIZE}..={left}` (bytes left)"
        )));
    }
    let size = size as usize;
    for (what, off) in [("metadata", meta_offset), ("constant pool", cp_offset)] {
        if off < HEADER_SIZE as u64 || off >= size as u64 {
            return Err(ReadError::new(format!(
                "{what} offset `{off}` beyond chunk size `{size}`"
            )));
        }
    }
    let chunk = &jfr[pos..pos + size];
    let compressed = features & 1 == 1;
    let types = metadata::parse_metadata(chunk, meta_offset as usize, compressed)
        .map_err(|e| ReadError::new(format!("metadata: {}", e.0)))?;
    let pools = pools::parse_pools(chunk, cp_offset as usize, compressed, &types)?;
    let layouts = compile_layouts(&types);

    let mut sums = ChunkSums::default();
    scan_events(
        chunk, compressed, &types, &pools, &layouts, state, &mut sums,
    )?;
    out.add_chunk(pools, sums, ticks_per_second)?;
    Ok(size)
}

/// Layouts of the event classes we use, indexed by class id.
struct Layouts {
    dense: Vec<u16>,
    sparse: FxHashMap<u64, usize>,
    list: Vec<Layout>,
}

impl Layouts {
    #[inline]
    fn get(&self, id: u64) -> Option<&Layout> {
        let i = if (id as usize) < self.dense.len() && id < (1 << 16) {
            usize::from(self.dense[id as usize]).checked_sub(1)?
        } else {
            *self.sparse.get(&id)?
        };
        self.list.get(i)
    }
}

fn compile_layouts(types: &Types) -> Layouts {
    let mut layouts = Layouts {
        dense: vec![0; 1024],
        sparse: FxHashMap::default(),
        list: Vec::new(),
    };
    for (ci, class) in types.classes.iter().enumerate() {
        // Ids 0 and 1 are the metadata and constant-pool events themselves.
        if class.id < 2 {
            continue;
        }
        let Some((kind, value_field)) = EventKind::by_name(&class.name) else {
            continue;
        };
        let mut has_value = false;
        let slots = class
            .fields
            .iter()
            .map(|f| {
                if !f.is_scalar() {
                    return None;
                }
                let slot = match f.name.as_str() {
                    "stackTrace" => Slot::Stack,
                    "state" if matches!(kind, EventKind::Execution | EventKind::WallClock) => {
                        Slot::State
                    }
                    "contextId" => Slot::Context,
                    "spanId" => Slot::SpanId,
                    "spanName" => Slot::SpanName,
                    "traceIdHi" => Slot::TraceHi,
                    "traceIdLo" => Slot::TraceLo,
                    "name" if kind == EventKind::ActiveSetting => Slot::Name,
                    "value" if kind == EventKind::ActiveSetting => Slot::Text,
                    n if Some(n) == value_field => {
                        has_value = true;
                        Slot::Value
                    }
                    _ => return None,
                };
                Some(slot)
            })
            .collect();
        let idx = layouts.list.len();
        layouts.list.push(Layout {
            kind,
            class: ci,
            slots,
            has_value,
        });
        if class.id < layouts.dense.len() as u64 {
            layouts.dense[class.id as usize] = (idx + 1) as u16;
        } else {
            layouts.sparse.insert(class.id, idx);
        }
    }
    layouts
}

fn scan_events(
    chunk: &[u8],
    compressed: bool,
    types: &Types,
    pools: &Pools,
    layouts: &Layouts,
    state: &mut State,
    sums: &mut ChunkSums,
) -> Res<()> {
    let mut pos = HEADER_SIZE;
    while pos < chunk.len() {
        let mut r = Reader::new(chunk, pos, compressed);
        let size = r.int().map_err(|e| at(pos, e))? as usize;
        if size == 0 || size > chunk.len() - pos {
            return Err(at(
                pos,
                ReadError::new(format!(
                    "event size `{size}` outside `1..={}` (bytes left in the chunk)",
                    chunk.len() - pos
                )),
            ));
        }
        let typ = r.long().map_err(|e| at(pos, e))?;
        if let Some(layout) = layouts.get(typ) {
            let mut r = Reader::new(&chunk[..pos + size], r.pos, compressed);
            handle_event(&mut r, types, pools, layout, state, sums).map_err(|e| {
                at(
                    pos,
                    ReadError::new(format!(
                        "{} event: {}",
                        types.classes[layout.class].name, e.0
                    )),
                )
            })?;
        }
        pos += size;
    }
    Ok(())
}

fn at(pos: usize, e: ReadError) -> ReadError {
    ReadError::new(format!("event at offset `{pos}`: {}", e.0))
}

#[inline]
fn handle_event(
    r: &mut Reader<'_>,
    types: &Types,
    pools: &Pools,
    layout: &Layout,
    state: &mut State,
    sums: &mut ChunkSums,
) -> Res<()> {
    let mut vals = [0u64; NUM_SLOTS];
    let mut name = None;
    let mut text = None;
    let fields = &types.classes[layout.class].fields;
    for (f, slot) in fields.iter().zip(&layout.slots) {
        match slot {
            None => skip_field(r, types, f, 0)?,
            Some(Slot::Name) => name = Some(read_scalar(r, f)?),
            Some(Slot::Text) => text = Some(read_scalar(r, f)?),
            Some(s) => {
                let v = read_scalar(r, f)?.num().unwrap_or(0);
                vals[*s as usize] = v;
            }
        }
    }
    let stack = vals[Slot::Stack as usize];
    let corr = [
        vals[Slot::Context as usize],
        vals[Slot::SpanId as usize],
        vals[Slot::SpanName as usize],
        vals[Slot::TraceHi as usize],
        vals[Slot::TraceLo as usize],
    ];
    let value = vals[Slot::Value as usize] as i64;
    let thread_state = || {
        pools
            .thread_states
            .get(&vals[Slot::State as usize])
            .copied()
    };
    let mut add = |kind: SampleKind, v: [i64; 2]| {
        let ci = sums.corr(corr);
        let e = sums.sums.entry((stack, ci, kind)).or_insert([0, 0]);
        e[0] = e[0].saturating_add(v[0]);
        e[1] = e[1].saturating_add(v[1]);
    };
    match layout.kind {
        EventKind::Execution => {
            if thread_state().is_some_and(|t| t != ThreadState::Sleeping) {
                add(SampleKind::Cpu, [1, 0]);
            }
            if state.wall {
                add(SampleKind::Wall, [1, 0]);
            }
        }
        EventKind::WallClock => {
            let n = if layout.has_value { value } else { 1 };
            // async-profiler ≥ 3 in wall mode: running threads' samples are CPU time too.
            if state.wall && thread_state() == Some(ThreadState::Runnable) {
                add(SampleKind::Cpu, [n, 0]);
            }
            add(SampleKind::Wall, [n, 0]);
        }
        EventKind::InNewTlab => add(SampleKind::InNewTlab, [1, value]),
        EventKind::OutsideTlab => add(SampleKind::OutsideTlab, [1, value]),
        EventKind::AllocationSample => add(SampleKind::AllocationSample, [1, value]),
        EventKind::MonitorEnter => add(SampleKind::Lock, [1, value]),
        EventKind::ThreadPark => add(SampleKind::Park, [1, value]),
        EventKind::LiveObject => add(SampleKind::Live, [1, 0]),
        EventKind::Malloc => add(SampleKind::Malloc, [1, value]),
        EventKind::ActiveSetting => {
            // Inline as async-profiler writes them, or a reference to the string pool, as JDK
            // writers write repeated strings.
            let s = |v: Option<Scalar<'_>>| match v {
                Some(Scalar::Str(s)) => pools.names.text(s),
                _ => String::new(),
            };
            if s(name) == "event" {
                state.event = s(text);
                state.wall = state.event == "wall";
            }
        }
    }
    Ok(())
}

/// The profile being built, across chunks.
struct Output<'a> {
    profile: Profile,
    snapshot: Option<LabelsSnapshot>,
    sample_rate: u32,
    limits: &'a Limits,
    options: &'a DecodeOptions,
    /// Correlation → index in `label_sets`.
    label_index: FxHashMap<Correlation, usize>,
    label_sets: Vec<LabelSet>,
    label_set_index: FxHashMap<LabelSet, usize>,
    /// Frame ids that the series may still store (see [`expansion_budget`]).
    budget: u64,
    input_len: usize,
    /// (kind, value index, label set) → series index.
    series_index: FxHashMap<(SampleKind, u8, usize), usize>,
    name_buf: String,
}

impl<'a> Output<'a> {
    fn new(
        snapshot: Option<LabelsSnapshot>,
        sample_rate: u32,
        limits: &'a Limits,
        options: &'a DecodeOptions,
    ) -> Self {
        Output {
            profile: Profile::default(),
            snapshot,
            sample_rate,
            limits,
            options,
            label_index: FxHashMap::default(),
            label_sets: Vec::new(),
            label_set_index: FxHashMap::default(),
            budget: 0,
            input_len: 0,
            series_index: FxHashMap::default(),
            name_buf: String::new(),
        }
    }

    fn labels(&mut self, corr: Correlation) -> usize {
        if let Some(&i) = self.label_index.get(&corr) {
            return i;
        }
        let [ctx, span_id, span_name, trace_hi, trace_lo] = corr;
        let mut set = LabelSet::new();
        if let Some(snap) = &self.snapshot {
            let text = |id: i64| snap.strings.get(&id).map(String::as_str).unwrap_or("");
            if let Some(labels) = snap.contexts.get(&(ctx as i64)) {
                for &(k, v) in labels {
                    if !text(k).is_empty() {
                        set.insert(text(k), text(v));
                    }
                }
            }
            if span_name != 0 && !text(span_name as i64).is_empty() {
                set.insert("span_name", text(span_name as i64));
            }
        }
        // Span and trace ids are per request: past `MAX_LABEL_SETS` sets they are dropped so
        // that one upload cannot create unbounded series.
        if self.label_sets.len() < MAX_LABEL_SETS {
            if span_id != 0 {
                set.insert("profile_id", format!("{span_id:016x}"));
            }
            if trace_hi != 0 || trace_lo != 0 {
                set.insert("trace_id", format!("{trace_hi:016x}{trace_lo:016x}"));
            }
        }
        let i = match self.label_set_index.get(&set) {
            Some(&i) => i,
            None => {
                let i = self.label_sets.len();
                self.label_sets.push(set.clone());
                self.label_set_index.insert(set, i);
                i
            }
        };
        self.label_index.insert(corr, i);
        i
    }

    fn series(&mut self, kind: SampleKind, value: u8, labels: usize) -> usize {
        if let Some(&i) = self.series_index.get(&(kind, value, labels)) {
            return i;
        }
        let (types, aggregation) = kind.series(self.sample_rate);
        let i = self.profile.series.len();
        self.profile.series.push(flamestream_model::Series::new(
            types[value as usize].clone(),
            aggregation,
            self.label_sets[labels].clone(),
        ));
        self.series_index.insert((kind, value, labels), i);
        i
    }

    /// Resolves the stacks of one chunk and adds its sums.
    fn add_chunk(&mut self, pools: Pools<'_>, sums: ChunkSums, ticks_per_second: u64) -> Res<()> {
        let period = if self.sample_rate == 0 {
            1
        } else {
            1_000_000_000 / i64::from(self.sample_rate)
        };
        let Pools {
            names,
            mut stacks,
            mut frames,
            keys,
            thread_states,
        } = pools;
        drop(thread_states);
        let ChunkSums { sums, corrs, .. } = sums;
        let max = self.limits.max_stack_depth;
        // Each distinct sampled stack trace is resolved once, whatever number of (context,
        // kind) sums use it: its path (frame ids, root first) overwrites the start of its own
        // range in `frames`, and its span becomes `(start, RESOLVED | path length)`, so no
        // memory is added. Resolving names each frame key once (`ids`: `UNNAMED` until named,
        // `NO_FRAME` for an unresolvable frame), so that the constant pools are dropped before
        // the series grow. FxHash has no random seed: the iteration order, and so frame ids
        // and series order, are the same for the same recording.
        const RESOLVED: u32 = 1 << 31;
        const _: () = assert!(pools::MAX_FRAMES < RESOLVED as usize);
        let mut ids: Vec<u32> = vec![UNNAMED; keys.len()];
        for &(stack, _, _) in sums.keys() {
            let Some(span) = stacks.get_mut(&stack) else {
                continue;
            };
            let (start, len) = *span;
            if len & RESOLVED != 0 {
                continue;
            }
            // Frames are stored leaf first; stacks keep the leaf-most `max_stack_depth` that
            // resolve. The walk over the raw frames is not capped further: each distinct stack
            // is walked at most once, so all walks together take at most the frame pool's
            // length (bounded by the input size), and a cap would drop resolvable frames that
            // follow many unresolvable ones.
            let range = &mut frames[start as usize..(start + len) as usize];
            let mut kept = 0;
            for i in 0..range.len() {
                if kept >= max {
                    break;
                }
                let k = range[i];
                let mut id = ids[k as usize];
                if id == UNNAMED {
                    let key = keys.get(k);
                    id = self
                        .frame_name(&names, key.method, key.line)
                        .unwrap_or(NO_FRAME);
                    ids[k as usize] = id;
                }
                if id != NO_FRAME {
                    // `kept <= i`: the frame keys still to read are not overwritten.
                    range[kept] = id;
                    kept += 1;
                }
            }
            range[..kept].reverse();
            // `kept <= len < RESOLVED`.
            *span = (start, RESOLVED | kept as u32);
        }
        drop(names);
        drop(keys);
        drop(ids);
        // Correlation index → label set index.
        let mut corr_labels: Vec<usize> = vec![usize::MAX; corrs.len()];
        for ((stack, ci, kind), vals) in sums {
            let Some(&(start, len)) = stacks.get(&stack) else {
                continue;
            };
            let path = &frames[start as usize..(start + (len & !RESOLVED)) as usize];
            let labels = match corr_labels[ci as usize] {
                usize::MAX => {
                    let l = self.labels(corrs[ci as usize]);
                    corr_labels[ci as usize] = l;
                    l
                }
                l => l,
            };
            let nvalues = if matches!(kind, SampleKind::Cpu | SampleKind::Wall | SampleKind::Live) {
                1
            } else {
                2
            };
            for (vi, &raw) in vals.iter().enumerate().take(nvalues) {
                let v = if kind.is_timed() {
                    raw.saturating_mul(period)
                } else if kind.is_delay() && vi == 1 && self.options.convert_ticks {
                    ticks_to_nanos(raw, ticks_per_second)
                } else {
                    raw
                };
                let s = self.series(kind, vi as u8, labels);
                let samples = &mut self.profile.series[s].samples;
                let before = samples.len();
                samples.add(path, v);
                if samples.len() > before {
                    let cost = path.len() as u64 + 1;
                    if cost > self.budget {
                        return Err(ReadError::new(format!(
                            "stacks expand to more than `{}` frames for a `{}` byte recording",
                            expansion_budget(self.input_len),
                            self.input_len
                        )));
                    }
                    self.budget -= cost;
                }
            }
        }
        Ok(())
    }

    fn frame_name(&mut self, names: &Names<'_>, method: u64, line: u32) -> Option<u32> {
        if method == 0 {
            return None;
        }
        let &(class, name) = names.methods.get(&method)?;
        let class_name = names.classes.get(&class)?;
        let buf = &mut self.name_buf;
        buf.clear();
        names.push_symbol(*class_name, buf);
        buf.push('.');
        names.push_symbol(name, buf);
        if self.options.line_numbers {
            buf.push(':');
            push_decimal(buf, line);
        }
        let max = self.limits.max_symbol_bytes;
        if buf.len() > max {
            let mut cut = max;
            while !buf.is_char_boundary(cut) {
                cut -= 1;
            }
            buf.truncate(cut);
        }
        Some(self.profile.frames.intern(buf))
    }

    fn finish(self) -> Profile {
        self.profile
    }
}

/// Appends `v` in decimal without going through `fmt`.
fn push_decimal(out: &mut String, mut v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

fn ticks_to_nanos(ticks: i64, ticks_per_second: u64) -> i64 {
    if ticks_per_second == 0 || ticks_per_second == 1_000_000_000 {
        return ticks;
    }
    let ns = i128::from(ticks) * 1_000_000_000 / i128::from(ticks_per_second);
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
