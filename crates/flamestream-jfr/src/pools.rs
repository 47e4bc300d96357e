//! Constant pools of one chunk: the checkpoint events chained backwards by `delta` from the
//! header's constant-pool offset. Only the pools needed to name stack frames are kept
//! (strings, symbols, classes, methods, stack traces, thread states); the rest is skipped by
//! layout.

use crate::metadata::{read_scalar, skip_field, skip_struct, Kind, Scalar, Types};
use crate::reader::{JStr, ReadError, Reader, Res};
use crate::symbols::{merge_generated_names, needs_merge};
use rustc_hash::FxHashMap;

/// Frame keys of one chunk: each distinct (method id, line) pair of its stack traces gets a
/// dense index, so that a stack trace is stored as four bytes a frame and its frames are named
/// once per pair. Pairs are found through an open-addressing table of key indices (one
/// multiply and usually one probe a frame).
#[derive(Debug, Default)]
pub(crate) struct FrameKeys {
    /// Slot → 1 + key index (0: empty); the length is a power of two, at most half full.
    table: Vec<u32>,
    keys: Vec<FrameKey>,
}

/// One (method id, line) pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameKey {
    pub(crate) method: u64,
    pub(crate) line: u32,
}

impl FrameKeys {
    #[inline(always)]
    fn slot(&self, method: u64, line: u32) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let h = (method.wrapping_mul(K) ^ u64::from(line)).wrapping_mul(K);
        // The table length is a power of two of at least 2^10 slots.
        (h >> (64 - self.table.len().trailing_zeros())) as usize
    }

    /// The index of (method, line), added when new.
    #[inline(always)]
    fn intern(&mut self, method: u64, line: u32) -> Res<u32> {
        if !self.table.is_empty() {
            let mask = self.table.len() - 1;
            let mut slot = self.slot(method, line);
            loop {
                let k = self.table[slot];
                if k == 0 {
                    break;
                }
                let key = &self.keys[k as usize - 1];
                if key.method == method && key.line == line {
                    return Ok(k - 1);
                }
                slot = (slot + 1) & mask;
            }
        }
        self.insert(method, line)
    }

    #[inline(never)]
    fn insert(&mut self, method: u64, line: u32) -> Res<u32> {
        let i = u32::try_from(self.keys.len())
            .ok()
            .filter(|&i| i < u32::MAX - 2)
            .ok_or_else(|| ReadError::new("too many distinct stack frames"))?;
        self.keys.push(FrameKey { method, line });
        if (self.keys.len()) * 2 > self.table.len() {
            let len = (self.table.len() * 2).max(1 << 10);
            self.table = vec![0; len];
            for j in 0..self.keys.len() {
                let key = self.keys[j];
                self.place(key.method, key.line, j as u32);
            }
        } else {
            self.place(method, line, i);
        }
        Ok(i)
    }

    fn place(&mut self, method: u64, line: u32, index: u32) {
        let mask = self.table.len() - 1;
        let mut slot = self.slot(method, line);
        while self.table[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.table[slot] = index + 1;
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key at `index`.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> FrameKey {
        self.keys[index as usize]
    }

    /// Frees the lookup table, keeping the keys.
    fn finish(&mut self) {
        self.table = Vec::new();
    }
}

/// Most stack frames one chunk may hold (each kept frame takes at least one byte of the
/// chunk, so only a chunk of more than 2 GiB reaches it): spans in `frames` fit in 31 bits,
/// and `add_chunk` marks a resolved stack with the 32nd.
pub(crate) const MAX_FRAMES: usize = (1 << 31) - 1;

/// The constants of one chunk needed to resolve stacks.
#[derive(Debug)]
pub(crate) struct Pools<'a> {
    /// What names frames; dropped once the chunk's frames are named.
    pub(crate) names: Names<'a>,
    /// Stack trace id → range in `frames` (leaf first). Ranges do not overlap (a stack id
    /// that comes again gets a new range), so a stack's range can be rewritten in place.
    pub(crate) stacks: FxHashMap<u64, (u32, u32)>,
    /// Frame key indices (see [`FrameKeys`]) of every stack trace.
    pub(crate) frames: Vec<u32>,
    pub(crate) keys: FrameKeys,
    /// Thread state id → what its name (`STATE_RUNNABLE`…) says.
    pub(crate) thread_states: FxHashMap<u64, ThreadState>,
}

/// The thread states that decide which series a sample feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Runnable,
    Sleeping,
    Other,
}

impl ThreadState {
    fn of(name: &str) -> ThreadState {
        match name {
            "STATE_RUNNABLE" => ThreadState::Runnable,
            "STATE_SLEEPING" => ThreadState::Sleeping,
            _ => ThreadState::Other,
        }
    }
}

/// The constants that name frames. Strings stay encoded in the chunk (pools keep their
/// offsets) until a frame needs them: most symbols (descriptors, packages) never do.
#[derive(Debug)]
pub(crate) struct Names<'a> {
    chunk: &'a [u8],
    compressed: bool,
    /// String id → offset of its encoding in the chunk.
    strings: FxHashMap<u64, usize>,
    /// Symbol id → offset of its string's encoding in the chunk.
    symbols: FxHashMap<u64, usize>,
    /// Class id → symbol id of its name.
    pub(crate) classes: FxHashMap<u64, u64>,
    /// Method id → (class id, symbol id of its name).
    pub(crate) methods: FxHashMap<u64, (u64, u64)>,
}

impl<'a> Pools<'a> {
    fn new(chunk: &'a [u8], compressed: bool) -> Self {
        Pools {
            names: Names {
                chunk,
                compressed,
                strings: FxHashMap::default(),
                symbols: FxHashMap::default(),
                classes: FxHashMap::default(),
                methods: FxHashMap::default(),
            },
            stacks: FxHashMap::default(),
            frames: Vec::new(),
            keys: FrameKeys::default(),
            thread_states: FxHashMap::default(),
        }
    }
}

impl<'a> Names<'a> {
    /// The string encoded at `pos` (read once already, so it parses).
    fn string_at(&self, pos: usize) -> JStr<'a> {
        Reader::new(self.chunk, pos, self.compressed)
            .string()
            .unwrap_or(JStr::Null)
    }

    /// The string-pool entry `id`; one that refers to the pool again is not followed.
    fn pooled(&self, id: u64) -> Option<JStr<'a>> {
        match self.string_at(*self.strings.get(&id)?) {
            JStr::Ref(_) => None,
            t => Some(t),
        }
    }

    /// The text of `s`, a reference resolved through the string pool (unknown: empty).
    pub(crate) fn text(&self, s: JStr<'_>) -> String {
        s.decode(|id| Some(self.pooled(id)?.decode(|_| None)))
    }

    /// Appends the text of symbol `id`, JVM-generated names merged (nothing when unknown).
    pub(crate) fn push_symbol(&self, id: u64, out: &mut String) {
        let Some(&pos) = self.symbols.get(&id) else {
            return;
        };
        let start = out.len();
        match self.string_at(pos) {
            JStr::Ref(r) => {
                if let Some(t) = self.pooled(r) {
                    t.push_to(out);
                }
            }
            s => s.push_to(out),
        }
        if needs_merge(&out[start..]) {
            let merged = merge_generated_names(out[start..].to_string());
            out.truncate(start);
            out.push_str(&merged);
        }
    }
}

/// Stack traces: (stack trace class, frames field, frame class, method field, line field).
type StackSpec = (usize, usize, usize, Option<usize>, Option<usize>);

/// Where the interesting fields sit in this chunk's layouts.
struct Spec {
    string: Option<usize>,
    symbol: Option<(usize, usize)>,
    class: Option<(usize, usize)>,
    method: Option<(usize, usize, usize)>,
    stack: Option<StackSpec>,
    thread_state: Option<(usize, usize)>,
}

impl Spec {
    fn new(types: &Types) -> Spec {
        let scalar_field = |class: usize, name: &str| {
            types.classes[class]
                .field(name)
                .filter(|&f| types.classes[class].fields[f].is_scalar())
        };
        let string = types.named("java.lang.String");
        let symbol = types
            .named("jdk.types.Symbol")
            .and_then(|c| Some((c, scalar_field(c, "string")?)));
        let class = types
            .named("java.lang.Class")
            .and_then(|c| Some((c, scalar_field(c, "name")?)));
        let method = types
            .named("jdk.types.Method")
            .and_then(|c| Some((c, scalar_field(c, "type")?, scalar_field(c, "name")?)));
        let thread_state = types
            .named("jdk.types.ThreadState")
            .and_then(|c| Some((c, scalar_field(c, "name")?)));
        let stack = types.named("jdk.types.StackTrace").and_then(|c| {
            let fi = types.classes[c].field("frames")?;
            let f = &types.classes[c].fields[fi];
            match (f.array, f.cp, f.kind) {
                (true, false, Kind::Struct(fc)) => Some((
                    c,
                    fi,
                    fc,
                    scalar_field(fc, "method"),
                    scalar_field(fc, "lineNumber"),
                )),
                _ => None,
            }
        });
        Spec {
            string,
            symbol,
            class,
            method,
            stack,
            thread_state,
        }
    }
}

/// Reads every checkpoint event of the chunk, newest first.
pub(crate) fn parse_pools<'a>(
    chunk: &'a [u8],
    first: usize,
    compressed: bool,
    types: &Types,
) -> Res<Pools<'a>> {
    let spec = Spec::new(types);
    let mut pools = Pools::new(chunk, compressed);
    let mut pos = first;
    // Checkpoints are written one after the other and chained backwards: each must end at
    // or before the start of the one that points to it, so the chain is read in linear time.
    let mut limit = chunk.len();
    loop {
        let delta = parse_checkpoint(&chunk[..limit], pos, compressed, types, &spec, &mut pools)
            .map_err(|e| ReadError::new(format!("constant pool at offset `{pos}`: {}", e.0)))?;
        if delta == 0 {
            break;
        }
        let next = pos as i64 + delta;
        if delta > 0 || next < 0 {
            return Err(ReadError::new(format!(
                "constant pool at offset `{pos}`: delta `{delta}` does not lead to an earlier constant pool"
            )));
        }
        limit = pos;
        pos = next as usize;
    }
    pools.keys.finish();
    pools.frames.shrink_to_fit();
    Ok(pools)
}

fn parse_checkpoint<'a>(
    chunk: &'a [u8],
    pos: usize,
    compressed: bool,
    types: &Types,
    spec: &Spec,
    pools: &mut Pools<'a>,
) -> Res<i64> {
    let mut r = Reader::new(chunk, pos, compressed);
    let size = r.int()? as usize;
    if size == 0 || pos.checked_add(size).is_none_or(|end| end > chunk.len()) {
        return Err(ReadError::new(format!(
            "event size `{size}` does not fit in the chunk"
        )));
    }
    let mut r = Reader::new(&chunk[..pos + size], r.pos, compressed);
    let typ = r.long()?;
    if typ != 1 {
        return Err(ReadError::new(format!(
            "event has type `{typ}`, expected `1`"
        )));
    }
    r.long()?; // start
    r.long()?; // duration
    let delta = r.long()? as i64;
    r.u8()?; // flush / type mask
    let npools = r.count("pool")?;
    for _ in 0..npools {
        let class_id = r.long()?;
        let class = *types
            .by_id
            .get(&class_id)
            .ok_or_else(|| ReadError::new(format!("unknown class id `{class_id}`")))?;
        let n = r.count("constant")?;
        reserve(spec, class, n, pools);
        for _ in 0..n {
            let id = r.long()?;
            read_constant(&mut r, types, spec, class, id, pools)?;
        }
    }
    Ok(delta)
}

/// Makes room in the pool that constants of `class` go to. `n` is bounded by the input, and
/// the room made by at most 64 Ki entries, so a count alone cannot reserve much memory.
fn reserve(spec: &Spec, class: usize, n: usize, pools: &mut Pools<'_>) {
    let n = n.min(1 << 16);
    let is = |c: Option<usize>| c == Some(class);
    if is(spec.string) {
        pools.names.strings.reserve(n);
    } else if is(spec.symbol.map(|s| s.0)) {
        pools.names.symbols.reserve(n);
    } else if is(spec.class.map(|s| s.0)) {
        pools.names.classes.reserve(n);
    } else if is(spec.method.map(|s| s.0)) {
        pools.names.methods.reserve(n);
    } else if is(spec.stack.map(|s| s.0)) {
        pools.stacks.reserve(n);
    }
}

/// Reads the scalar fields `wanted` of a struct of `class`, skipping the others.
fn read_fields<'a, const N: usize>(
    r: &mut Reader<'a>,
    types: &Types,
    class: usize,
    wanted: [usize; N],
) -> Res<[Option<Scalar<'a>>; N]> {
    let mut out = [None; N];
    for (i, f) in types.classes[class].fields.iter().enumerate() {
        if let Some(slot) = wanted.iter().position(|&w| w == i) {
            out[slot] = Some(read_scalar(r, f)?);
        } else {
            skip_field(r, types, f, 1)?;
        }
    }
    Ok(out)
}

fn read_constant<'a>(
    r: &mut Reader<'a>,
    types: &Types,
    spec: &Spec,
    class: usize,
    id: u64,
    pools: &mut Pools<'a>,
) -> Res<()> {
    if spec.string == Some(class) {
        let pos = r.pos;
        r.skip_string()?;
        pools.names.strings.insert(id, pos);
        return Ok(());
    }
    if let Some((c, f)) = spec.symbol {
        if c == class {
            if let Some(pos) = string_field(r, types, class, f)? {
                pools.names.symbols.insert(id, pos);
            }
            return Ok(());
        }
    }
    if let Some((c, f)) = spec.class {
        if c == class {
            let [v] = read_fields(r, types, class, [f])?;
            if let Some(name) = v.and_then(Scalar::num) {
                pools.names.classes.insert(id, name);
            }
            return Ok(());
        }
    }
    if let Some((c, ft, fname)) = spec.method {
        if c == class {
            let [t, n] = read_fields(r, types, class, [ft, fname])?;
            pools.names.methods.insert(
                id,
                (
                    t.and_then(Scalar::num).unwrap_or(0),
                    n.and_then(Scalar::num).unwrap_or(0),
                ),
            );
            return Ok(());
        }
    }
    if let Some((c, f)) = spec.thread_state {
        if c == class {
            let [v] = read_fields(r, types, class, [f])?;
            if let Some(Scalar::Str(s)) = v {
                let t = ThreadState::of(&pools.names.text(s));
                pools.thread_states.insert(id, t);
            }
            return Ok(());
        }
    }
    if let Some((c, frames_field, frame_class, fm, fl)) = spec.stack {
        if c == class {
            let start = pools.frames.len();
            for (i, f) in types.classes[class].fields.iter().enumerate() {
                if i != frames_field {
                    skip_field(r, types, f, 1)?;
                    continue;
                }
                let n = r.count("stack frame")?;
                read_frames(r, types, frame_class, fm, fl, n, pools)?;
            }
            let len = pools.frames.len() - start;
            if pools.frames.len() > MAX_FRAMES {
                return Err(ReadError::new("too many stack frames"));
            }
            pools.stacks.insert(id, (start as u32, len as u32));
            return Ok(());
        }
    }
    skip_struct(r, types, class, 0)
}

/// Skips a struct of `class`, returning the offset of its field `wanted` when that field is
/// an inline string (the offset of its encoding).
fn string_field(
    r: &mut Reader<'_>,
    types: &Types,
    class: usize,
    wanted: usize,
) -> Res<Option<usize>> {
    let mut out = None;
    for (i, f) in types.classes[class].fields.iter().enumerate() {
        if i == wanted && !f.cp && f.kind == Kind::Str {
            out = Some(r.pos);
            r.skip_string()?;
        } else {
            skip_field(r, types, f, 1)?;
        }
    }
    Ok(out)
}

/// Reads `n` stack frames into frame keys. The usual layout (every field a varint: method,
/// line, bytecode index, frame type) takes a fast path.
fn read_frames(
    r: &mut Reader<'_>,
    types: &Types,
    frame_class: usize,
    fm: Option<usize>,
    fl: Option<usize>,
    n: usize,
    pools: &mut Pools<'_>,
) -> Res<()> {
    let fields = &types.classes[frame_class].fields;
    if fields.is_empty() {
        // Frames without fields take no bytes (zero-width fields are dropped from the
        // layouts) and name nothing: none is kept, so that the frames kept stay bounded by
        // the input size and a stack of them resolves to the same empty path.
        return Ok(());
    }
    let all_varints = r.compressed
        && fields.iter().all(|f| {
            !f.array
                && (f.cp || matches!(f.kind, Kind::Int | Kind::Long | Kind::Short | Kind::Char))
        });
    let frames = &mut pools.frames;
    let keys = &mut pools.keys;
    // Each frame takes at least one byte, so `n` is bounded by the input.
    frames.reserve(n.min(r.remaining()));
    if all_varints {
        let nf = fields.len();
        let fm = fm.unwrap_or(usize::MAX);
        let fl = fl.unwrap_or(usize::MAX);
        if (fm, fl) == (0, 1) {
            // The layout of every JDK and async-profiler: method, line, then the rest.
            for _ in 0..n {
                let method = r.varint()?;
                let line = r.varint()? as u32;
                for _ in 2..nf {
                    r.skip_varint()?;
                }
                frames.push(keys.intern(method, line)?);
            }
            return Ok(());
        }
        for _ in 0..n {
            let (mut method, mut line) = (0, 0);
            for j in 0..nf {
                let v = r.varint()?;
                if j == fm {
                    method = v;
                } else if j == fl {
                    line = v as u32;
                }
            }
            frames.push(keys.intern(method, line)?);
        }
        return Ok(());
    }
    for _ in 0..n {
        let (mut method, mut line) = (0, 0);
        for (j, ff) in fields.iter().enumerate() {
            if Some(j) == fm {
                method = read_scalar(r, ff)?.num().unwrap_or(0);
            } else if Some(j) == fl {
                line = read_scalar(r, ff)?.num().unwrap_or(0) as u32;
            } else {
                skip_field(r, types, ff, 2)?;
            }
        }
        frames.push(keys.intern(method, line)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FrameKeys;

    #[test]
    fn frame_keys_are_stable_across_growth() {
        let mut keys = FrameKeys::default();
        let pairs: Vec<(u64, u32)> = (0..5000u64)
            .map(|i| (i % 700 + (i % 3) * (1 << 40), (i * 7919 % 13) as u32))
            .collect();
        let first: Vec<u32> = pairs
            .iter()
            .map(|&(m, l)| keys.intern(m, l).unwrap())
            .collect();
        for (&(m, l), &i) in pairs.iter().zip(&first) {
            assert_eq!(keys.intern(m, l).unwrap(), i);
            let k = keys.get(i);
            assert_eq!((k.method, k.line), (m, l));
        }
        let mut distinct = pairs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(keys.len(), distinct.len());
    }
}
