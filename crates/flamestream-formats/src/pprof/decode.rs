//! The fast pprof path: reads the wire format directly.
//!
//! 1. [`top_level`]: sample types, period type, string table and functions are decoded;
//!    locations and samples are kept as byte slices (samples may come before the string table).
//! 2. [`resolve_locations`]: each location becomes a root-first run of frame ids.
//! 3. [`accumulate_samples`]: each sample is read in place; each distinct stack is assembled
//!    once from those runs, and values are summed per (label set, stack). No allocation per
//!    sample except for new stacks and new label sets.
//! 4. [`fill_series`]: the series' stack maps are sized and filled, sharing one frame arena.
//!
//! Each pass is a function of its own, not inlined, so that a profiler shows what each costs.

use super::{profile_type_for, SampleTypeConfig, SampleTypeInfo};
use crate::varint::{Reader, WireError, WT_LEN};
use crate::{truncate_symbol, DecodeError};
use flamestream_model::labels::validate_label;
use flamestream_model::{FrameTable, LabelSet, LimitExceeded, Limits, Series, StackMap};
use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::hash::BuildHasher;

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::Invalid {
        format: "pprof",
        detail: detail.into(),
    }
}

fn wire(what: &str, e: WireError) -> DecodeError {
    invalid(format!("{what}: {e}"))
}

/// One decoded series and whether its values are cumulative.
#[derive(Debug, Clone)]
pub struct DecodedSeries {
    /// The series.
    pub series: Series,
    /// True when its sample type is cumulative (delta against `prev_profile`).
    pub cumulative: bool,
}

/// Maps protobuf ids (location, function) to values (an index, a span): a vector when the ids
/// are dense (the usual case), a hash map otherwise. `none` marks the ids that are absent.
enum IdIndex<T: Copy + PartialEq> {
    Dense(Vec<T>, T),
    Sparse(FxHashMap<u64, T>),
}

const NONE: u32 = u32::MAX;

impl<T: Copy + PartialEq> IdIndex<T> {
    /// The map of the i-th id → the i-th value (a repeated id keeps its last value).
    fn build(
        ids: impl ExactSizeIterator<Item = u64> + Clone,
        values: impl Iterator<Item = T>,
        none: T,
    ) -> Self {
        let n = ids.len();
        let max = ids.clone().max().unwrap_or(0);
        if max <= (n as u64).saturating_mul(4).saturating_add(1024) {
            let mut v = vec![none; max as usize + 1];
            for (id, value) in ids.zip(values) {
                v[id as usize] = value;
            }
            IdIndex::Dense(v, none)
        } else {
            let mut m = FxHashMap::default();
            m.reserve(n);
            for (id, value) in ids.zip(values) {
                m.insert(id, value);
            }
            IdIndex::Sparse(m)
        }
    }

    #[inline]
    fn get(&self, id: u64) -> Option<T> {
        match self {
            IdIndex::Dense(v, none) => usize::try_from(id)
                .ok()
                .and_then(|i| v.get(i).copied())
                .filter(|i| i != none),
            IdIndex::Sparse(m) => m.get(&id).copied(),
        }
    }
}

struct Function {
    id: u64,
    name: u64,
    system_name: u64,
}

/// Pass 1 output.
struct Top<'a> {
    sample_types: Vec<(u64, u64)>,
    period_type: (u64, u64),
    /// Where each string of the table is in the profile (8 bytes each instead of a slice's 16).
    strings: Vec<Span>,
    functions: Vec<Function>,
    locations: Vec<&'a [u8]>,
    /// Samples are not kept: pass 2 reads them from the profile again ([`samples`]).
    samples: usize,
    /// The byte range from the first sample's key to the end of the last sample.
    sample_range: (usize, usize),
    /// The samples' bytes (their payloads, without what lies between them).
    sample_bytes: usize,
    /// The string table's bytes.
    string_bytes: usize,
}

impl Top<'_> {
    /// Counts a sample whose key is at `at`, whose payload of `len` bytes ends at `end`.
    #[inline(always)]
    fn note_sample(&mut self, at: usize, end: usize, len: usize) {
        self.sample_bytes += len;
        if self.samples == 0 {
            self.sample_range.0 = at;
        }
        self.sample_range.1 = end;
        self.samples += 1;
    }
}

/// The samples (field 2) of a profile whose top level pass 1 has already validated.
fn samples(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut r = Reader::new(data);
    std::iter::from_fn(move || {
        while let Some(b) = r.peek() {
            if b == 0x12 {
                r.advance();
                return r.len_delimited().ok();
            }
            let (f, wt) = r.key().ok()?;
            if f == 2 {
                return r.message(f, wt).ok();
            }
            r.skip(wt).ok()?;
        }
        None
    })
}

fn value_type(buf: &[u8]) -> Result<(u64, u64), WireError> {
    let mut r = Reader::new(buf);
    let (mut t, mut u) = (0, 0);
    while !r.is_empty() {
        let (f, wt) = r.key()?;
        match f {
            1 => t = r.scalar(f, wt)?,
            2 => u = r.scalar(f, wt)?,
            _ => r.skip(wt)?,
        }
    }
    Ok((t, u))
}

fn function(buf: &[u8]) -> Result<Function, WireError> {
    let mut r = Reader::new(buf);
    let mut out = Function {
        id: 0,
        name: 0,
        system_name: 0,
    };
    // Go's order first (id, name, system name, filename, start line), then any order.
    if r.eat(0x08) {
        out.id = r.varint()?;
    }
    if r.eat(0x10) {
        out.name = r.varint()?;
    }
    if r.eat(0x18) {
        out.system_name = r.varint()?;
    }
    if r.eat(0x20) {
        r.skip_varint()?;
    }
    if r.eat(0x28) {
        r.skip_varint()?;
    }
    while let Some(b) = r.peek() {
        // The usual one-byte keys first (id, name, system name, filename, start line).
        match b {
            0x08 => {
                r.advance();
                out.id = r.varint()?;
            }
            0x10 => {
                r.advance();
                out.name = r.varint()?;
            }
            0x18 => {
                r.advance();
                out.system_name = r.varint()?;
            }
            0x20 | 0x28 => {
                r.advance();
                r.skip_varint()?;
            }
            _ => {
                let (f, wt) = r.key()?;
                match f {
                    1 => out.id = r.scalar(f, wt)?,
                    2 => out.name = r.scalar(f, wt)?,
                    3 => out.system_name = r.scalar(f, wt)?,
                    _ => r.skip(wt)?,
                }
            }
        }
    }
    Ok(out)
}

/// Pass 1: the top-level fields.
#[inline(never)]
fn top_level<'a>(data: &'a [u8], limits: &Limits) -> Result<Top<'a>, DecodeError> {
    // The vectors grow as they go: counting the fields first cost more time (a second pass
    // over the top level) than the spare capacity costs memory (locations and functions are
    // dropped before the samples are read; the string table is trimmed). They start at the
    // size of a small profile's tables rather than at four, which saves their first steps of
    // growth (each a reallocation and a copy) whatever the profile's size, for a few hundred
    // bytes at most.
    let mut top = Top {
        sample_types: Vec::new(),
        period_type: (0, 0),
        strings: Vec::with_capacity(64),
        functions: Vec::with_capacity(16),
        locations: Vec::with_capacity(64),
        samples: 0,
        sample_range: (0, 0),
        sample_bytes: 0,
        string_bytes: 0,
    };
    let mut r = Reader::new(data);
    let bad = |f: u32, at: usize, e: WireError| {
        invalid(format!(
            "not a pprof profile: field `{f}` at byte `{at}`: {e}"
        ))
    };
    while !r.is_empty() {
        let at = r.position();
        // Runs of samples, locations and strings, as every encoder writes them: a loop per run
        // rather than a jump per field (the general loop below takes any other order).
        if r.peek() == Some(0x12) {
            let mut at = at;
            while r.eat(0x12) {
                let len = r.len_delimited().map_err(|e| bad(2, at, e))?.len();
                top.note_sample(at, r.position(), len);
                if top.samples as u64 > limits.max_samples {
                    return Err(too_many_samples(r, top.samples, limits));
                }
                at = r.position();
            }
            continue;
        }
        if r.peek() == Some(0x22) {
            let mut at = at;
            while r.eat(0x22) {
                top.locations
                    .push(r.len_delimited().map_err(|e| bad(4, at, e))?);
                at = r.position();
            }
            continue;
        }
        if r.peek() == Some(0x32) {
            let mut at = at;
            while r.eat(0x32) {
                let s = r.len_delimited().map_err(|e| bad(6, at, e))?;
                top.string_bytes += s.len();
                top.strings
                    .push(Span::of(data, s).map_err(|e| bad(6, at, e))?);
                at = r.position();
            }
            continue;
        }
        // The usual one-byte keys of the length-delimited fields first.
        let (f, wt) = match r.peek() {
            Some(b @ (0x0a | 0x12 | 0x1a | 0x22 | 0x2a | 0x32)) => {
                r.advance();
                (u32::from(b >> 3), WT_LEN)
            }
            _ => r
                .key()
                .map_err(|e| invalid(format!("not a protobuf: {e} at byte `{at}`")))?,
        };
        let res: Result<(), WireError> = (|| {
            match f {
                1 => top.sample_types.push(value_type(r.message(f, wt)?)?),
                2 => {
                    let len = r.message(f, wt)?.len();
                    top.note_sample(at, r.position(), len);
                }
                4 => top.locations.push(r.message(f, wt)?),
                5 => top.functions.push(function(r.message(f, wt)?)?),
                6 => {
                    let s = r.message(f, wt)?;
                    top.string_bytes += s.len();
                    top.strings.push(Span::of(data, s)?);
                }
                11 => top.period_type = value_type(r.message(f, wt)?)?,
                // mapping, drop/keep frames, times, period, comments, default type
                _ => r.skip(wt)?,
            }
            Ok(())
        })();
        res.map_err(|e| bad(f, at, e))?;
        if top.samples as u64 > limits.max_samples {
            return Err(too_many_samples(r, top.samples, limits));
        }
    }
    // The string table lives to the end (label values): no spare capacity.
    top.strings.shrink_to_fit();
    Ok(top)
}

/// The `max_samples` error, once `seen` samples are past it: the rest is counted cheaply so
/// that the error names the real number.
#[cold]
fn too_many_samples(mut r: Reader<'_>, seen: usize, limits: &Limits) -> DecodeError {
    let mut n = seen as u64;
    while !r.is_empty() {
        let Ok((f, wt)) = r.key() else { break };
        if r.skip(wt).is_err() {
            break;
        }
        if f == 2 {
            n += 1;
        }
    }
    LimitExceeded {
        limit: "max_samples",
        actual: n,
        max: limits.max_samples,
    }
    .into()
}

/// Where some bytes of a profile are: offset and length.
#[derive(Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
}

impl Span {
    /// The span of `part`, a slice of `data`; profiles past 4 GiB are refused (the
    /// decompressed-size cap stops them long before).
    fn of(data: &[u8], part: &[u8]) -> Result<Span, WireError> {
        let at = part.as_ptr() as usize - data.as_ptr() as usize;
        match (u32::try_from(at), u32::try_from(part.len())) {
            (Ok(at), Ok(len)) => Ok(Span { at, len }),
            _ => Err(WireError::Truncated),
        }
    }

    fn get(self, data: &[u8]) -> &[u8] {
        &data[self.at as usize..self.at as usize + self.len as usize]
    }
}

struct Strings<'a> {
    data: &'a [u8],
    raw: Vec<Span>,
    /// The bytes of all strings.
    total: usize,
}

impl<'a> Strings<'a> {
    /// Where string `idx` is, when it is in the table.
    fn span(&self, idx: u64) -> Option<Span> {
        usize::try_from(idx)
            .ok()
            .and_then(|i| self.raw.get(i))
            .copied()
    }

    /// The length in bytes of string `idx` (0 when out of range).
    fn len_of(&self, idx: u64) -> usize {
        self.span(idx).map_or(0, |span| span.len as usize)
    }

    fn get(&self, idx: u64, what: &str) -> Result<Cow<'a, str>, DecodeError> {
        if idx == 0 && self.raw.is_empty() {
            // A profile without a string table (e.g. empty): index 0 is the empty string.
            return Ok(Cow::Borrowed(""));
        }
        let raw = self
            .span(idx)
            .map(|span| span.get(self.data))
            .ok_or_else(|| {
                invalid(format!(
                    "{what} string index `{idx}` is out of range: the string table has `{}` entries",
                    self.raw.len()
                ))
            })?;
        Ok(match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        })
    }
}

/// Each location as a root-first run of frame ids.
struct Locations {
    /// location id → `(start, length)` of its run in `frames`, or `(frame, 1)` for the usual
    /// location of one frame (no lookup in `frames`). Every location has a frame at least, so
    /// `(0, 0)` marks the ids that are absent.
    by_id: IdIndex<(u32, u32)>,
    /// The runs of the locations with more than one frame (inlined lines).
    frames: Vec<u32>,
}

/// A location's address: only needed when the location has no symbolized line (it then names
/// the frame), so the fast path notes where its varint is instead of decoding it.
#[derive(Clone, Copy)]
enum Address {
    Value(u64),
    /// The offset of the (valid) varint in the location's bytes.
    At(usize),
}

impl Address {
    fn value(self, body: &[u8]) -> u64 {
        match self {
            Address::Value(v) => v,
            Address::At(at) => Reader::new(body.get(at..).unwrap_or_default())
                .varint()
                .unwrap_or(0),
        }
    }
}

/// A location's id and address, and its lines' function ids in `lines` (in wire order).
#[inline(always)]
fn location(
    body: &[u8],
    id: &mut u64,
    address: &mut Address,
    lines: &mut Vec<u64>,
) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    // Go's orders first, then any order: id, mapping id, address, lines (the pprof library),
    // or id, address, lines, mapping id (`runtime/pprof`).
    if r.eat(0x08) {
        *id = r.varint()?;
    }
    if r.eat(0x10) {
        r.skip_varint()?;
    }
    if r.eat(0x18) {
        *address = Address::At(r.position());
        r.skip_varint()?;
    }
    while r.eat(0x22) {
        lines.push(line_function(r.len_delimited()?)?);
    }
    if r.eat(0x10) {
        r.skip_varint()?;
    }
    while let Some(b) = r.peek() {
        // The usual one-byte keys first (id, mapping id, address, line, is_folded).
        match b {
            0x08 => {
                r.advance();
                *id = r.varint()?;
            }
            0x10 | 0x28 => {
                r.advance();
                r.skip_varint()?;
            }
            0x18 => {
                r.advance();
                *address = Address::At(r.position());
                r.skip_varint()?;
            }
            0x22 => {
                r.advance();
                lines.push(line_function(r.len_delimited()?)?);
            }
            _ => {
                let (f, wt) = r.key()?;
                match f {
                    1 => *id = r.scalar(f, wt)?,
                    3 => *address = Address::Value(r.scalar(f, wt)?),
                    4 => lines.push(line_function(r.message(f, wt)?)?),
                    _ => r.skip(wt)?,
                }
            }
        }
    }
    Ok(())
}

/// A sample label's key and string value (string indices; 0 when absent).
#[inline(always)]
fn label_pair(body: &[u8]) -> Result<(u64, u64), WireError> {
    let mut r = Reader::new(body);
    let (mut k, mut s) = (0, 0);
    while let Some(b) = r.peek() {
        // The usual one-byte keys first (key, str, num, num_unit).
        match b {
            0x08 => {
                r.advance();
                k = r.varint()?;
            }
            0x10 => {
                r.advance();
                s = r.varint()?;
            }
            0x18 | 0x20 => {
                r.advance();
                r.skip_varint()?;
            }
            _ => {
                let (f, wt) = r.key()?;
                match f {
                    1 => k = r.scalar(f, wt)?,
                    2 => s = r.scalar(f, wt)?,
                    _ => r.skip(wt)?,
                }
            }
        }
    }
    Ok((k, s))
}

/// A line's function id.
#[inline(always)]
fn line_function(body: &[u8]) -> Result<u64, WireError> {
    let mut r = Reader::new(body);
    let mut fid = 0;
    // Go's order first (function id, line), then any order.
    if r.eat(0x08) {
        fid = r.varint()?;
    }
    if r.eat(0x10) {
        r.skip_varint()?;
    }
    while let Some(b) = r.peek() {
        // The usual one-byte keys first (function id, line, column).
        match b {
            0x08 => {
                r.advance();
                fid = r.varint()?;
            }
            0x10 | 0x18 => {
                r.advance();
                r.skip_varint()?;
            }
            _ => {
                let (f, wt) = r.key()?;
                match f {
                    1 => fid = r.scalar(f, wt)?,
                    _ => r.skip(wt)?,
                }
            }
        }
    }
    Ok(fid)
}

/// Pass 2a: interns the functions the locations use and turns each location into a run of
/// frame ids (inlined lines expanded, unsymbolized locations named by their address).
#[inline(never)]
fn resolve_locations(
    locations: &[&[u8]],
    functions: &[Function],
    strings: &Strings<'_>,
    frames: &mut FrameTable,
    limits: &Limits,
) -> Result<Locations, DecodeError> {
    // Functions → frame ids, interned lazily.
    let mut function_frames = FunctionFrames {
        index: IdIndex::build(
            functions.iter().map(|f| f.id),
            0..functions.len() as u32,
            NONE,
        ),
        functions,
        frame: vec![NONE; functions.len()],
        strings,
        limits,
    };
    // Room for every function's name (most are used; unused ones were in the profile anyway),
    // but never more than the whole string table: functions may share a name (the frame table
    // keeps it once), and a few bytes of function entries may all name one long string.
    let name_bytes: usize = functions
        .iter()
        .map(|f| strings.len_of(f.name).min(limits.max_symbol_bytes))
        .fold(0usize, usize::saturating_add)
        .min(strings.total);
    frames.reserve(functions.len(), name_bytes);

    // Locations → root-first runs of frame ids.
    let mut loc_ids: Vec<u64> = Vec::with_capacity(locations.len());
    let mut loc_span: Vec<(u32, u32)> = Vec::with_capacity(locations.len());
    // Only the locations with inlined lines keep their frames here.
    let mut loc_frames: Vec<u32> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    for (li, body) in locations.iter().enumerate() {
        lines.clear();
        let mut address = Address::Value(0);
        let mut id = 0u64;
        let res = location(body, &mut id, &mut address, &mut lines);
        res.map_err(|e| wire(&format!("location `{li}`"), e))?;
        loc_ids.push(id);
        // An unsymbolized location is named by its address.
        let by_address = |frames: &mut FrameTable| {
            let name = format!("0x{:x}", address.value(body));
            frames.intern(truncate_symbol(&name, limits.max_symbol_bytes))
        };
        if let [fid] = lines[..] {
            // The usual location: one line, no inlining; its frame goes in the span itself.
            let frame = match function_frames.get(id, fid, frames)? {
                Some(frame) => frame,
                None => by_address(frames),
            };
            loc_span.push((frame, 1));
            continue;
        }
        let start = loc_frames.len() as u32;
        // The last line is the outermost caller: walk backwards for root-first order.
        for &fid in lines.iter().rev() {
            if let Some(frame) = function_frames.get(id, fid, frames)? {
                loc_frames.push(frame);
            }
        }
        if loc_frames.len() as u32 == start {
            let frame = by_address(frames);
            loc_frames.push(frame);
        }
        let len = loc_frames.len() as u32 - start;
        if len == 1 {
            loc_span.push((loc_frames[start as usize], 1));
            loc_frames.truncate(start as usize);
        } else {
            loc_span.push((start, len));
        }
    }

    Ok(Locations {
        by_id: IdIndex::build(loc_ids.iter().copied(), loc_span.into_iter(), (0, 0)),
        frames: loc_frames,
    })
}

/// The functions of a profile, found by id, and their frames, interned at their first use.
struct FunctionFrames<'p> {
    index: IdIndex<u32>,
    functions: &'p [Function],
    /// The i-th function's frame, `NONE` until used.
    frame: Vec<u32>,
    strings: &'p Strings<'p>,
    limits: &'p Limits,
}

impl FunctionFrames<'_> {
    /// The frame of function `fid` (a line of location `id`); `None` for function id 0 and for
    /// a function without a name.
    #[inline(always)]
    fn get(
        &mut self,
        id: u64,
        fid: u64,
        frames: &mut FrameTable,
    ) -> Result<Option<u32>, DecodeError> {
        if fid == 0 {
            return Ok(None);
        }
        let fi = self.index.get(fid).ok_or_else(|| {
            invalid(format!(
                "location `{id}` references unknown function id `{fid}`"
            ))
        })? as usize;
        if self.frame[fi] == NONE {
            let f = &self.functions[fi];
            let mut name = self.strings.get(f.name, "function name")?;
            if name.is_empty() {
                name = self.strings.get(f.system_name, "function system name")?;
            }
            if name.is_empty() {
                return Ok(None);
            }
            self.frame[fi] = frames.intern(truncate_symbol(&name, self.limits.max_symbol_bytes));
        }
        Ok(Some(self.frame[fi]))
    }
}

/// Decodes `data` into series whose stacks use `frames`. Used for both `profile` and
/// `prev_profile`, so their stacks are comparable.
///
/// # Errors
/// [`DecodeError::Invalid`] for malformed profiles, [`DecodeError::Limit`] for `max_samples`.
pub fn decode_series(
    data: &[u8],
    frames: &mut FrameTable,
    config: Option<&SampleTypeConfig>,
    limits: &Limits,
) -> Result<Vec<DecodedSeries>, DecodeError> {
    let top = top_level(data, limits)?;
    let strings = Strings {
        data,
        raw: top.strings,
        total: top.string_bytes,
    };

    // Sample types.
    let n_types = top.sample_types.len();
    let period_type = strings.get(top.period_type.0, "period type")?;
    let period_unit = strings.get(top.period_type.1, "period unit")?;
    let mut names = Vec::with_capacity(n_types);
    for &(t, u) in &top.sample_types {
        names.push((
            strings.get(t, "sample type")?,
            strings.get(u, "sample unit")?,
        ));
    }
    let go_cpu = names.iter().any(|(t, u)| t == "cpu" && u == "nanoseconds");
    let mut infos: Vec<Option<SampleTypeInfo>> = Vec::with_capacity(n_types);
    for (t, u) in &names {
        if go_cpu && t == "samples" && u == "count" {
            infos.push(None);
        } else {
            infos.push(Some(profile_type_for(
                t,
                u,
                &period_type,
                &period_unit,
                config,
            )));
        }
    }

    let locations = resolve_locations(&top.locations, &top.functions, &strings, frames, limits)?;
    // The locations are runs of frame ids now: their bytes and the functions are not needed.
    drop((top.locations, top.functions));

    let acc = accumulate_samples(
        data,
        top.samples,
        (top.sample_range, top.sample_bytes),
        &infos,
        &strings,
        &locations,
        limits,
    )?;
    // What only the samples needed goes before the series are filled.
    drop(locations);
    Ok(fill_series(acc))
}

/// What the samples add up to: values per (label group, stack), before the series exist.
struct Accumulated {
    out: Vec<DecodedSeries>,
    /// group g's series for the k-th kept sample type is `group_series[g * n_kept + k]`.
    group_series: Vec<u32>,
    /// How many sample types are kept (Go CPU's `samples` is dropped for `cpu`).
    n_kept: usize,
    /// accumulator → (group, stack); its `n_kept` values are in `acc_values`.
    acc_key: Vec<(u32, u32)>,
    acc_values: Vec<i64>,
    /// stack → (start, length) in `stack_arena`, root first.
    stack_span: Vec<(u32, u32)>,
    stack_arena: Vec<u32>,
}

/// Pass 2b: reads every sample once (in place in `data`), builds each distinct stack once and
/// sums the values per (label group, stack).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn accumulate_samples(
    data: &[u8],
    n_samples_in: usize,
    (sample_range, sample_bytes): ((usize, usize), usize),
    infos: &[Option<SampleTypeInfo>],
    strings: &Strings<'_>,
    locations: &Locations,
    limits: &Limits,
) -> Result<Accumulated, DecodeError> {
    let n_types = infos.len();
    // The sample types that become series: only their values are summed.
    let kept: Vec<usize> = (0..n_types).filter(|&i| infos[i].is_some()).collect();
    let n_kept = kept.len();
    // Samples. Stacks are deduplicated by the raw bytes of their location ids, and values are
    // summed per (label group, stack) before they reach the series' stack maps, so a repeated
    // stack costs one hash of its raw bytes.
    let mut out: Vec<DecodedSeries> = Vec::new();
    // label-pair key → group; group g's series for kept type k is group_series[g * n_kept + k].
    let mut groups: FxHashMap<Box<[(u64, u64)]>, u32> = FxHashMap::default();
    let mut known = LabelGroups::default();
    let mut group_series: Vec<u32> = Vec::new();
    // Per string: 0 not yet judged as a label key, 1 valid, 2 not; made at the first label set.
    let mut key_ok: Vec<u8> = Vec::new();

    // raw location-id bytes → stack index (the table holds only the index: the raw bytes are
    // found through `raw_keys`, in the profile or, for unpacked ids, in `owned_keys`); the
    // stacks' frames live in one arena. Only labelled samples use them: they are sized (for
    // every sample, at most one raw key each) at the first one.
    let mut stack_of: HashTable<u32> = HashTable::new();
    // Sizes from the sample count: stacks and accumulators (fewer: repeated and same-frame
    // stacks) start at half of it.
    let n_samples = n_samples_in;
    let mut raw_keys: Vec<RawKey> = Vec::new();
    // raw key → stack (several runs of location ids may give one frame stack).
    let mut raw_stack: Vec<u32> = Vec::new();
    // frame stack → stack index, to keep each frame stack once.
    let mut stack_by_frames: HashTable<u32> = HashTable::with_capacity(n_samples / 2);
    let mut owned_keys: Vec<u8> = Vec::new();
    // Location ids take a byte or more each, and repeated stacks are stored once: a quarter of
    // the samples' bytes is a fair guess.
    let mut stack_arena: Vec<u32> = Vec::with_capacity(sample_bytes / 4);
    let mut stack_span: Vec<(u32, u32)> = Vec::with_capacity(n_samples / 2);
    // stack → (label group, accumulator) it was last added to.
    let mut last_acc: Vec<(u32, u32)> = Vec::with_capacity(n_samples / 2);
    // (group << 32 | stack) → accumulator index; n_kept values per accumulator.
    let mut acc_of: FxHashMap<u64, u32> = FxHashMap::default();
    let mut acc_key: Vec<(u32, u32)> = Vec::with_capacity(n_samples / 2);
    // Bounded by the sample bytes too: the sample-type count is the sender's, and a value takes
    // a byte or more on the wire.
    let mut acc_values: Vec<i64> =
        Vec::with_capacity((n_samples / 2).saturating_mul(n_kept).min(sample_bytes));

    let mut vals: Vec<i64> = Vec::with_capacity(n_types.clamp(1, 64));
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    let mut unpacked: Vec<u8> = Vec::new();
    let mut locs: Vec<u64> = Vec::new();
    let max_depth = limits.max_stack_depth;

    let (from, to) = sample_range;
    for (si, sample) in samples(&data[from..to]).enumerate() {
        vals.clear();
        pairs.clear();
        unpacked.clear();
        let mut packed: Option<&[u8]> = None;
        let mut labelled = false;
        let mut r = Reader::new(sample);
        let res: Result<(), WireError> = (|| {
            // Go's orders first, then any order: packed location ids then values (the pprof
            // library), or values then ids (`runtime/pprof`); values one or two unpacked, or
            // more packed.
            if r.eat(0x0a) {
                packed = Some(r.len_delimited()?);
            }
            while r.eat(0x10) {
                vals.push(r.varint()? as i64);
            }
            if r.eat(0x12) {
                let mut inner = Reader::new(r.len_delimited()?);
                while !inner.is_empty() {
                    vals.push(inner.varint()? as i64);
                }
            }
            if packed.is_none() && r.eat(0x0a) {
                packed = Some(r.len_delimited()?);
            }
            while let Some(b) = r.peek() {
                // The usual one-byte keys first: packed location ids, values (unpacked, as Go
                // writes one or two, or packed), labels.
                match b {
                    0x0a if packed.is_none() && unpacked.is_empty() => {
                        r.advance();
                        packed = Some(r.len_delimited()?);
                        continue;
                    }
                    0x10 => {
                        r.advance();
                        vals.push(r.varint()? as i64);
                        continue;
                    }
                    0x12 => {
                        r.advance();
                        let mut inner = Reader::new(r.len_delimited()?);
                        while !inner.is_empty() {
                            vals.push(inner.varint()? as i64);
                        }
                        continue;
                    }
                    0x1a => {
                        r.advance();
                        labelled = true;
                        let (k, s) = label_pair(r.len_delimited()?)?;
                        if s != 0 {
                            pairs.push((k, s));
                        }
                        continue;
                    }
                    _ => {}
                }
                let (f, wt) = r.key()?;
                match f {
                    1 => match wt {
                        WT_LEN if packed.is_none() && unpacked.is_empty() => {
                            packed = Some(r.len_delimited()?)
                        }
                        _ => {
                            // Unpacked or split: re-encode as one packed run.
                            if let Some(p) = packed.take() {
                                unpacked.extend_from_slice(p);
                            }
                            r.repeated_varint(f, wt, |id| {
                                push_varint(&mut unpacked, id);
                                Ok(())
                            })?;
                        }
                    },
                    2 => r.repeated_varint(f, wt, |v| {
                        vals.push(v as i64);
                        Ok(())
                    })?,
                    3 => {
                        labelled = true;
                        let (k, s) = label_pair(r.message(f, wt)?)?;
                        if s != 0 {
                            pairs.push((k, s));
                        }
                    }
                    _ => r.skip(wt)?,
                }
            }
            Ok(())
        })();
        res.map_err(|e| wire(&format!("sample `{si}`"), e))?;
        if vals.len() != n_types {
            return Err(invalid(format!(
                "sample `{si}` has `{}` values but the profile has `{n_types}` sample types",
                vals.len()
            )));
        }
        if vals.iter().zip(infos).all(|(&v, i)| v <= 0 || i.is_none()) {
            continue;
        }

        // Stack, root first, built once per distinct run of location ids.
        // Runs of location ids are looked up as they are only for samples with labels: a
        // stack repeats under other label sets (or dropped numeric labels, as in Go heap
        // profiles), while Go writes each unlabelled stack once, so that its raw key would be
        // hashed and stored for nothing.
        let key: &[u8] = packed.unwrap_or(&unpacked);
        let key_hash = if labelled {
            rustc_hash::FxBuildHasher.hash_one(key)
        } else {
            0
        };
        let found = if labelled {
            if stack_of.capacity() == 0 {
                // The first labelled sample.
                stack_of.reserve(n_samples, |_| 0);
                raw_keys.reserve_exact(n_samples);
                raw_stack.reserve_exact(n_samples);
            }
            stack_of.find(key_hash, |&i| {
                raw_keys[i as usize].bytes(data, &owned_keys) == key
            })
        } else {
            None
        };
        let mut new_stack = false;
        let stack = match found {
            Some(&r) => raw_stack[r as usize],
            None => {
                let start = stack_arena.len();
                // Leaf first, as on the wire: the frames stay in that order (reversed once
                // per distinct stack, at the end) and are hashed as they are pushed, so that
                // nothing reads back the frames just stored (a wide load of several fresh
                // 4-byte stores waits for them to reach the cache).
                let mut hash = LEAF_FIRST_SEED;
                let mut ids = Reader::new(key);
                // Any trouble (too deep, an id unknown or unreadable) takes the root-first
                // walk instead, which keeps the root-most `max_depth` frames and judges the ids
                // as it always did: an id past the depth cut is never looked up.
                let mut fallback = false;
                while !ids.is_empty() {
                    let Ok(id) = ids.varint() else {
                        fallback = true;
                        break;
                    };
                    let Some((s, len)) = locations.by_id.get(id) else {
                        fallback = true;
                        break;
                    };
                    if len == 1 {
                        // The usual location: one line, no inlining; `s` is its frame.
                        stack_arena.push(s);
                        hash = leaf_first_step(hash, s);
                    } else {
                        // Root first in the run: reversed. No more than one frame past the
                        // depth is copied: a location may hold millions of inlined lines, and
                        // many samples may reference it.
                        let room = max_depth.saturating_add(1) - (stack_arena.len() - start);
                        let run = &locations.frames[s as usize..(s + len) as usize];
                        for &f in run.iter().rev().take(room) {
                            stack_arena.push(f);
                            hash = leaf_first_step(hash, f);
                        }
                    }
                    if stack_arena.len() - start > max_depth {
                        fallback = true;
                        break;
                    }
                }
                if fallback {
                    stack_arena.truncate(start);
                    root_first_cut(key, locations, max_depth, &mut locs, &mut stack_arena)
                        .map_err(|e| match e {
                            CutError::Wire(e) => wire(&format!("sample `{si}` location ids"), e),
                            CutError::Unknown(id) => invalid(format!(
                                "sample `{si}` references unknown location id `{id}`"
                            )),
                        })?;
                    stack_arena[start..].reverse();
                    hash = leaf_first_hash(&stack_arena[start..]);
                }
                let hash = leaf_first_finish(hash, stack_arena.len() - start);
                // Distinct runs of location ids often resolve to the same frames (other
                // addresses in the same functions): keep each frame stack once.
                let same = stack_by_frames.find(hash, |&j| {
                    let (s, len) = stack_span[j as usize];
                    same_frames(
                        &stack_arena[s as usize..(s + len) as usize],
                        &stack_arena[start..],
                    )
                });
                let stack = match same {
                    Some(&j) => {
                        stack_arena.truncate(start);
                        j
                    }
                    None => {
                        let j = stack_span.len() as u32;
                        stack_span.push((start as u32, (stack_arena.len() - start) as u32));
                        last_acc.push((NONE, NONE));
                        stack_by_frames.insert_unique(hash, j, |&k| {
                            let (s, len) = stack_span[k as usize];
                            leaf_first_finish(
                                leaf_first_hash(&stack_arena[s as usize..(s + len) as usize]),
                                len as usize,
                            )
                        });
                        new_stack = true;
                        j
                    }
                };
                if !labelled {
                    stack
                } else {
                    let r = raw_stack.len() as u32;
                    raw_stack.push(stack);
                    let raw_key = match packed {
                        // `p` is a slice of `data`: remember where.
                        Some(p) => RawKey::new(
                            p.as_ptr() as usize - data.as_ptr() as usize,
                            p.len(),
                            false,
                        ),
                        None => {
                            owned_keys.extend_from_slice(&unpacked);
                            RawKey::new(owned_keys.len() - unpacked.len(), unpacked.len(), true)
                        }
                    };
                    raw_keys.push(raw_key.ok_or_else(|| {
                        invalid("profile too large: sample data past 2 GiB".to_string())
                    })?);
                    // The table was sized for every sample: it never grows, so the rehash hasher
                    // below is there for the type only.
                    stack_of.insert_unique(key_hash, r, |&j| {
                        rustc_hash::FxBuildHasher
                            .hash_one(raw_keys[j as usize].bytes(data, &owned_keys))
                    });
                    stack
                }
            }
        };

        // Label group.
        let group = if pairs.is_empty() {
            match known.unlabelled {
                Some(g) => g,
                None => new_group(
                    &LabelSet::new(),
                    infos,
                    &mut out,
                    &mut known,
                    &mut group_series,
                ),
            }
        } else {
            pairs.sort_unstable();
            match groups.get(&pairs[..]) {
                Some(&g) => g,
                None => {
                    if key_ok.is_empty() {
                        key_ok.resize(strings.raw.len(), 0);
                    }
                    let mut set = LabelSet::new();
                    for &(k, v) in &pairs {
                        let ki = usize::try_from(k).unwrap_or(usize::MAX);
                        let state = key_ok.get(ki).copied().unwrap_or(2);
                        if state == 2 {
                            continue;
                        }
                        // A label whose key or value is not in the string table is dropped,
                        // like any bad label: the upload is kept.
                        let (Ok(name), Ok(value)) =
                            (strings.get(k, "label key"), strings.get(v, "label value"))
                        else {
                            continue;
                        };
                        if state == 0 {
                            let ok = validate_label(&name, "", limits).is_ok();
                            key_ok[ki] = if ok { 1 } else { 2 };
                            if !ok {
                                continue;
                            }
                        }
                        if value.len() > limits.max_label_value_bytes
                            || set.len() >= limits.max_labels
                        {
                            continue;
                        }
                        set.insert(name.into_owned(), value.into_owned());
                    }
                    let g = new_group(&set, infos, &mut out, &mut known, &mut group_series);
                    groups.insert(pairs.as_slice().into(), g);
                    g
                }
            }
        };

        // Most stacks are seen with one label group only: remember the last one per stack.
        let last = &mut last_acc[stack as usize];
        let mut new_acc = || {
            acc_key.push((group, stack));
            acc_values.resize(acc_values.len() + n_kept, 0);
            (acc_key.len() - 1) as u32
        };
        let acc = if last.0 == group {
            last.1
        } else {
            // A new stack has no accumulator yet, under any group: no lookup. (If the pair is
            // created again later through `acc_of`, the two accumulators are summed into the
            // same series stack at the end.)
            let acc = if new_stack {
                new_acc()
            } else {
                *acc_of
                    .entry((u64::from(group) << 32) | u64::from(stack))
                    .or_insert_with(new_acc)
            };
            *last = (group, acc);
            acc
        } as usize;
        let slot = &mut acc_values[acc * n_kept..(acc + 1) * n_kept];
        for (a, &i) in slot.iter_mut().zip(&kept) {
            let v = vals[i];
            if v > 0 {
                *a = a.saturating_add(v);
            }
        }
    }

    // The distinct stacks, root first from now on.
    for &(s, len) in &stack_span {
        stack_arena[s as usize..(s + len) as usize].reverse();
    }
    Ok(Accumulated {
        out,
        group_series,
        n_kept,
        acc_key,
        acc_values,
        stack_span,
        stack_arena,
    })
}

/// Pass 3: hands each series its stacks, all sharing one arena of frames.
#[inline(never)]
fn fill_series(acc: Accumulated) -> Vec<DecodedSeries> {
    let Accumulated {
        mut out,
        group_series,
        n_kept,
        acc_key,
        acc_values,
        stack_span,
        stack_arena,
    } = acc;
    // Size every stack map once: count the stacks each series receives.
    let mut per_series: Vec<usize> = vec![0; out.len()];
    for (acc, &(group, _)) in acc_key.iter().enumerate() {
        let base = group as usize * n_kept;
        for (k, &v) in acc_values[acc * n_kept..(acc + 1) * n_kept]
            .iter()
            .enumerate()
        {
            if v > 0 {
                per_series[group_series[base + k] as usize] += 1;
            }
        }
    }
    // Every series refers to the one arena of distinct stacks instead of copying its frames.
    let stack_hash: Vec<u64> = stack_span
        .iter()
        .map(|&(s, len)| StackMap::hash_stack(&stack_arena[s as usize..(s + len) as usize]))
        .collect();
    let arena = std::sync::Arc::new(stack_arena);
    for (s, stacks) in out.iter_mut().zip(per_series) {
        s.series.samples = StackMap::with_shared_frames(arena.clone(), stacks);
    }
    for (acc, &(group, stack)) in acc_key.iter().enumerate() {
        let (start, len) = stack_span[stack as usize];
        let hash = stack_hash[stack as usize];
        let base = group as usize * n_kept;
        for (k, &v) in acc_values[acc * n_kept..(acc + 1) * n_kept]
            .iter()
            .enumerate()
        {
            if v > 0 {
                out[group_series[base + k] as usize]
                    .series
                    .samples
                    .add_span(hash, start as usize, len, v);
            }
        }
    }
    out
}

enum CutError {
    Wire(WireError),
    Unknown(u64),
}

/// Pushes the root-most `max_depth` frames of the stack whose location ids (leaf first) are
/// `key` onto `arena`, walking the ids from the root end (`locs` is scratch space).
fn root_first_cut(
    key: &[u8],
    locations: &Locations,
    max_depth: usize,
    locs: &mut Vec<u64>,
    arena: &mut Vec<u32>,
) -> Result<(), CutError> {
    let start = arena.len();
    locs.clear();
    let mut ids = Reader::new(key);
    while !ids.is_empty() {
        locs.push(ids.varint().map_err(CutError::Wire)?);
    }
    for &id in locs.iter().rev() {
        let (s, len) = locations.by_id.get(id).ok_or(CutError::Unknown(id))?;
        let room = max_depth - (arena.len() - start);
        if len == 1 {
            if room > 0 {
                arena.push(s);
            }
        } else {
            let len = (len as usize).min(room);
            arena.extend_from_slice(&locations.frames[s as usize..s as usize + len]);
        }
        if arena.len() - start >= max_depth {
            break;
        }
    }
    Ok(())
}

/// Not zero: a step of frame 0 from a zero hash would leave it zero, and stacks differing only
/// in how many frame-0 entries end them (a recursive leaf) would all collide.
const LEAF_FIRST_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// One frame more into a stack's hash while its frames are being pushed, leaf first (the
/// multiplier is rustc-hash's).
#[inline(always)]
fn leaf_first_step(hash: u64, frame: u32) -> u64 {
    (hash.rotate_left(5) ^ u64::from(frame)).wrapping_mul(0xf135_7aea_2e62_a9c5)
}

/// The hash table's hash of a stack of `len` frames hashed with [`leaf_first_step`]: the length
/// mixed in, then the well-mixed high bits moved down, where the table picks its bucket.
#[inline(always)]
fn leaf_first_finish(hash: u64, len: usize) -> u64 {
    (hash ^ len as u64)
        .wrapping_mul(0xf135_7aea_2e62_a9c5)
        .rotate_left(26)
}

/// [`leaf_first_step`] over a stored stack (leaf first), without the finish.
fn leaf_first_hash(leaf_first: &[u32]) -> u64 {
    leaf_first
        .iter()
        .fold(LEAF_FIRST_SEED, |h, &f| leaf_first_step(h, f))
}

/// Whether two stacks are the same, frame by frame: `b` was just stored, and comparing it
/// 4 bytes at a time (as it was written) does not wait for the stores as `memcmp`'s wide loads
/// do.
#[inline(always)]
fn same_frames(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Where the raw location-id bytes of a distinct stack are.
struct RawKey {
    at: u32,
    /// The length; the top bit set when the bytes are in `owned_keys` (re-encoded unpacked
    /// ids) rather than in the profile.
    len: u32,
}

const OWNED: u32 = 1 << 31;

impl RawKey {
    /// A key for `len` bytes at `at`, `None` past 2 GiB (profiles are capped far below).
    fn new(at: usize, len: usize, owned: bool) -> Option<RawKey> {
        let at = u32::try_from(at).ok()?;
        let len = u32::try_from(len).ok().filter(|&l| l < OWNED)?;
        Some(RawKey {
            at,
            len: if owned { len | OWNED } else { len },
        })
    }

    #[inline]
    fn bytes<'a>(&self, data: &'a [u8], owned: &'a [u8]) -> &'a [u8] {
        let from = if self.len & OWNED != 0 { owned } else { data };
        let at = self.at as usize;
        &from[at..at + (self.len & !OWNED) as usize]
    }
}

/// The label groups made so far: by label set, and the group of the empty set (samples
/// without labels, or whose labels were all dropped) apart, so that an unlabelled profile
/// never hashes a label set.
#[derive(Default)]
struct LabelGroups {
    by_labels: FxHashMap<LabelSet, u32>,
    unlabelled: Option<u32>,
}

/// Creates (or reuses, when another label-pair key gave the same set) the series of a label
/// set for every kept sample type; returns the group id.
fn new_group(
    set: &LabelSet,
    infos: &[Option<SampleTypeInfo>],
    out: &mut Vec<DecodedSeries>,
    known: &mut LabelGroups,
    group_series: &mut Vec<u32>,
) -> u32 {
    let n = infos.iter().flatten().count();
    // Groups are numbered in creation order; each holds `n` series slots.
    let made = known.by_labels.len() + usize::from(known.unlabelled.is_some());
    let g = group_series.len().checked_div(n).unwrap_or(made) as u32;
    let same = if set.is_empty() {
        known.unlabelled
    } else {
        known.by_labels.get(set).copied()
    };
    if let Some(g) = same {
        let base = g as usize * n;
        let copy: Vec<u32> = group_series[base..base + n].to_vec();
        group_series.extend(copy);
    } else {
        if out.capacity() == 0 {
            // Most profiles have one label set: its series, exactly.
            out.reserve_exact(n);
        }
        for info in infos.iter().flatten() {
            group_series.push(out.len() as u32);
            out.push(DecodedSeries {
                series: Series::new(info.profile_type.clone(), info.aggregation, set.clone()),
                cumulative: info.cumulative,
            });
        }
    }
    if set.is_empty() {
        known.unlabelled.get_or_insert(g);
    } else {
        known.by_labels.entry(set.clone()).or_insert(g);
    }
    g
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stacks that differ only in how many frame-0 entries end them (a recursive leaf that
    /// happens to be the first frame named) must not share a hash: the table would probe all of
    /// them for every sample.
    #[test]
    fn leaf_first_hashes_of_repeated_frame_zero_differ() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..1000 {
            let mut stack = vec![0u32; n];
            stack.extend([1, 2]);
            assert!(seen.insert(leaf_first_finish(leaf_first_hash(&stack), stack.len())));
            let zeros = vec![0u32; n + 1];
            assert!(seen.insert(leaf_first_finish(leaf_first_hash(&zeros), zeros.len())));
        }
    }
}
