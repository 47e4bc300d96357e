//! Constant pools of one chunk: the checkpoint events chained backwards by `delta` from the
//! header's constant-pool offset. Only the pools needed to name stack frames are kept
//! (strings, symbols, classes, methods, stack traces, thread states); the rest is skipped by
//! layout.

use crate::metadata::{read_scalar, skip_field, skip_struct, Kind, Scalar, Types};
use crate::reader::{JStr, ReadError, Reader, Res};
use crate::symbols::{merge_generated_names, needs_merge};
use rustc_hash::FxHashMap;

/// One stack frame: the method id and the line number (raw `int` bits).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame {
    pub(crate) method: u64,
    pub(crate) line: u32,
}

/// The constants of one chunk needed to resolve stacks. Strings stay encoded (borrowed from
/// the chunk) until a frame needs them: most symbols (descriptors, packages) never do.
#[derive(Debug, Default)]
pub(crate) struct Pools<'a> {
    strings: FxHashMap<u64, JStr<'a>>,
    symbols: FxHashMap<u64, JStr<'a>>,
    /// Class id → symbol id of its name.
    pub(crate) classes: FxHashMap<u64, u64>,
    /// Method id → (class id, symbol id of its name).
    pub(crate) methods: FxHashMap<u64, (u64, u64)>,
    /// Stack trace id → range in `frames` (leaf first).
    pub(crate) stacks: FxHashMap<u64, (u32, u32)>,
    pub(crate) frames: Vec<RawFrame>,
    /// Thread state id → name (`STATE_RUNNABLE`…).
    pub(crate) thread_states: FxHashMap<u64, String>,
}

impl Pools<'_> {
    fn text(&self, s: JStr<'_>) -> String {
        s.decode(|id| {
            self.strings.get(&id).map(|t| match t {
                // A string-pool entry that refers to the pool again is not followed.
                JStr::Ref(_) => String::new(),
                t => t.decode(|_| None),
            })
        })
    }

    /// Appends the text of symbol `id`, JVM-generated names merged (nothing when unknown).
    pub(crate) fn push_symbol(&self, id: u64, out: &mut String) {
        let Some(&s) = self.symbols.get(&id) else {
            return;
        };
        let start = out.len();
        match s {
            JStr::Ref(r) => match self.strings.get(&r) {
                Some(JStr::Ref(_)) | None => {}
                Some(t) => t.push_to(out),
            },
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
    let mut pools = Pools::default();
    // A frame takes at least four bytes; stack traces are usually a good part of a chunk.
    pools.frames.reserve(chunk.len() / 16);
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
        pools.strings.reserve(n);
    } else if is(spec.symbol.map(|s| s.0)) {
        pools.symbols.reserve(n);
    } else if is(spec.class.map(|s| s.0)) {
        pools.classes.reserve(n);
    } else if is(spec.method.map(|s| s.0)) {
        pools.methods.reserve(n);
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
        let s = r.string()?;
        pools.strings.insert(id, s);
        return Ok(());
    }
    if let Some((c, f)) = spec.symbol {
        if c == class {
            let [v] = read_fields(r, types, class, [f])?;
            if let Some(Scalar::Str(s)) = v {
                pools.symbols.insert(id, s);
            }
            return Ok(());
        }
    }
    if let Some((c, f)) = spec.class {
        if c == class {
            let [v] = read_fields(r, types, class, [f])?;
            if let Some(name) = v.and_then(Scalar::num) {
                pools.classes.insert(id, name);
            }
            return Ok(());
        }
    }
    if let Some((c, ft, fname)) = spec.method {
        if c == class {
            let [t, n] = read_fields(r, types, class, [ft, fname])?;
            pools.methods.insert(
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
                let t = pools.text(s);
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
                read_frames(r, types, frame_class, fm, fl, n, &mut pools.frames)?;
            }
            let len = pools.frames.len() - start;
            if u32::try_from(pools.frames.len()).is_err() {
                return Err(ReadError::new("too many stack frames"));
            }
            pools.stacks.insert(id, (start as u32, len as u32));
            return Ok(());
        }
    }
    skip_struct(r, types, class, 0)
}

/// Reads `n` stack frames. The usual layout (every field a varint: method, line, bytecode
/// index, frame type) takes a fast path.
fn read_frames(
    r: &mut Reader<'_>,
    types: &Types,
    frame_class: usize,
    fm: Option<usize>,
    fl: Option<usize>,
    n: usize,
    out: &mut Vec<RawFrame>,
) -> Res<()> {
    let fields = &types.classes[frame_class].fields;
    let all_varints = r.compressed
        && fields.iter().all(|f| {
            !f.array
                && (f.cp || matches!(f.kind, Kind::Int | Kind::Long | Kind::Short | Kind::Char))
        });
    out.reserve(n.min(r.remaining()));
    if all_varints {
        for _ in 0..n {
            let mut frame = RawFrame { method: 0, line: 0 };
            for j in 0..fields.len() {
                let v = r.varint()?;
                if Some(j) == fm {
                    frame.method = v;
                } else if Some(j) == fl {
                    frame.line = v as u32;
                }
            }
            out.push(frame);
        }
        return Ok(());
    }
    for _ in 0..n {
        let mut frame = RawFrame { method: 0, line: 0 };
        for (j, ff) in fields.iter().enumerate() {
            if Some(j) == fm {
                frame.method = read_scalar(r, ff)?.num().unwrap_or(0);
            } else if Some(j) == fl {
                frame.line = read_scalar(r, ff)?.num().unwrap_or(0) as u32;
            } else {
                skip_field(r, types, ff, 2)?;
            }
        }
        out.push(frame);
    }
    Ok(())
}
