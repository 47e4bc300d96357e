//! The metadata event of a chunk: its string table and element tree, compiled into class
//! layouts (field kinds in declaration order) so values can be read or skipped without
//! hard-coding any event layout.

use crate::reader::{ReadError, Reader, Res};
use rustc_hash::FxHashMap;

/// Deepest element nesting accepted in the metadata tree (the real tree is 4–5 deep).
const MAX_ELEMENT_DEPTH: usize = 32;
/// Deepest struct-in-struct nesting followed when reading values.
pub(crate) const MAX_VALUE_DEPTH: usize = 32;

/// How a field's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Byte,
    Short,
    Char,
    Int,
    Long,
    Float,
    Double,
    Str,
    /// An inline struct of the class at this index.
    Struct(usize),
}

/// One field of a class.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// The value is a constant-pool id (a long).
    pub(crate) cp: bool,
    /// The value is an array (an int count, then the elements).
    pub(crate) array: bool,
}

impl Field {
    /// True when the value is one number or string (no array, no inline struct).
    pub(crate) fn is_scalar(&self) -> bool {
        !self.array && (self.cp || !matches!(self.kind, Kind::Struct(_)))
    }
}

/// One class (type) of the chunk.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub(crate) id: u64,
    pub(crate) name: String,
    /// Set for `boolean`, `int`, `java.lang.String`…: values of this class are that primitive.
    pub(crate) primitive: Option<Kind>,
    pub(crate) fields: Vec<Field>,
}

impl Class {
    pub(crate) fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// All classes of a chunk.
#[derive(Debug, Default)]
pub(crate) struct Types {
    pub(crate) classes: Vec<Class>,
    pub(crate) by_id: FxHashMap<u64, usize>,
    pub(crate) by_name: FxHashMap<String, usize>,
}

impl Types {
    pub(crate) fn named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

fn primitive(name: &str) -> Option<Kind> {
    Some(match name {
        "boolean" => Kind::Bool,
        "byte" => Kind::Byte,
        "short" => Kind::Short,
        "char" => Kind::Char,
        "int" => Kind::Int,
        "long" => Kind::Long,
        "float" => Kind::Float,
        "double" => Kind::Double,
        "java.lang.String" => Kind::Str,
        _ => return None,
    })
}

struct Element {
    name: u32,
    attrs: Vec<(u32, u32)>,
    children: Vec<Element>,
}

fn read_element(r: &mut Reader<'_>, nstrings: usize, depth: usize) -> Res<Element> {
    if depth > MAX_ELEMENT_DEPTH {
        return Err(ReadError::new(format!(
            "metadata elements nested deeper than `{MAX_ELEMENT_DEPTH}`"
        )));
    }
    let check = |i: u32| -> Res<u32> {
        if (i as usize) < nstrings {
            Ok(i)
        } else {
            Err(ReadError::new(format!(
                "metadata string index `{i}` beyond the `{nstrings}` strings"
            )))
        }
    };
    let name = check(r.int()?)?;
    let nattrs = r.count("metadata attribute")?;
    let mut attrs = Vec::with_capacity(nattrs.min(16));
    for _ in 0..nattrs {
        let k = check(r.int()?)?;
        let v = check(r.int()?)?;
        attrs.push((k, v));
    }
    let nchildren = r.count("metadata child")?;
    let mut children = Vec::with_capacity(nchildren.min(64));
    for _ in 0..nchildren {
        children.push(read_element(r, nstrings, depth + 1)?);
    }
    Ok(Element {
        name,
        attrs,
        children,
    })
}

/// Parses the metadata event at `pos` of `chunk`.
pub(crate) fn parse_metadata(chunk: &[u8], pos: usize, compressed: bool) -> Res<Types> {
    let mut r = Reader::new(chunk, pos, compressed);
    let size = r.int()? as usize;
    if size == 0 || pos.checked_add(size).is_none_or(|end| end > chunk.len()) {
        return Err(ReadError::new(format!(
            "metadata event size `{size}` does not fit in the chunk"
        )));
    }
    let mut r = Reader::new(&chunk[..pos + size], r.pos, compressed);
    let typ = r.long()?;
    if typ != 0 {
        return Err(ReadError::new(format!(
            "metadata event has type `{typ}`, expected `0`"
        )));
    }
    r.long()?; // start
    r.long()?; // duration
    r.long()?; // metadata id
    let nstrings = r.count("metadata string")?;
    let mut strings = Vec::with_capacity(nstrings);
    for _ in 0..nstrings {
        let s = r.string()?;
        strings.push(s.decode(|_| None));
    }
    let root = read_element(&mut r, strings.len(), 0)?;
    let s = |i: u32| strings[i as usize].as_str();
    if s(root.name) != "root" {
        return Err(ReadError::new(format!(
            "metadata root element is `{}`, expected `root`",
            s(root.name)
        )));
    }
    let attr = |e: &Element, key: &str| -> Option<&str> {
        e.attrs
            .iter()
            .find(|(k, _)| s(*k) == key)
            .map(|(_, v)| s(*v))
    };

    struct RawField {
        name: String,
        type_id: u64,
        cp: bool,
        array: bool,
    }
    let mut raw: Vec<(u64, String, Vec<RawField>)> = Vec::new();
    for meta in root.children.iter().filter(|e| s(e.name) == "metadata") {
        for class in meta.children.iter().filter(|e| s(e.name) == "class") {
            let id = attr(class, "id")
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| ReadError::new("metadata class without a numeric `id`"))?;
            let name = attr(class, "name").unwrap_or_default().to_string();
            let mut fields = Vec::new();
            for f in class.children.iter().filter(|e| s(e.name) == "field") {
                let fname = attr(f, "name").unwrap_or_default().to_string();
                let type_id = attr(f, "class")
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| {
                        ReadError::new(format!("field `{name}.{fname}` without a numeric `class`"))
                    })?;
                let cp = attr(f, "constantPool") == Some("true");
                let array = attr(f, "dimension").is_some_and(|d| d != "0");
                fields.push(RawField {
                    name: fname,
                    type_id,
                    cp,
                    array,
                });
            }
            raw.push((id, name, fields));
        }
    }

    let mut types = Types::default();
    for (i, (id, name, _)) in raw.iter().enumerate() {
        types.by_id.insert(*id, i);
        types.by_name.entry(name.clone()).or_insert(i);
    }
    let names: Vec<String> = raw.iter().map(|(_, n, _)| n.clone()).collect();
    for (id, name, fields) in raw {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let idx = *types.by_id.get(&f.type_id).ok_or_else(|| {
                ReadError::new(format!(
                    "field `{name}.{}` has unknown type id `{}`",
                    f.name, f.type_id
                ))
            })?;
            let kind = primitive(&names[idx]).unwrap_or(Kind::Struct(idx));
            out.push(Field {
                name: f.name,
                kind,
                cp: f.cp,
                array: f.array,
            });
        }
        types.classes.push(Class {
            id,
            primitive: primitive(&name),
            name,
            fields: out,
        });
    }
    drop_zero_width_fields(&mut types);
    Ok(types)
}

/// Removes fields whose values take no bytes (structs with no data, transitively). After this
/// every field read consumes at least one byte, so the work of reading values is bounded by
/// the input size, whatever the metadata declares.
fn drop_zero_width_fields(types: &mut Types) {
    let n = types.classes.len();
    let mut zero: Vec<bool> = types
        .classes
        .iter()
        .map(|c| c.primitive.is_none())
        .collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            if zero[i]
                && !types.classes[i]
                    .fields
                    .iter()
                    .all(|f| !f.array && !f.cp && matches!(f.kind, Kind::Struct(d) if zero[d]))
            {
                zero[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for c in &mut types.classes {
        c.fields
            .retain(|f| f.array || f.cp || !matches!(f.kind, Kind::Struct(d) if zero[d]));
    }
}

/// Skips one value of `field` (array or not).
#[inline]
pub(crate) fn skip_field(
    r: &mut Reader<'_>,
    types: &Types,
    field: &Field,
    depth: usize,
) -> Res<()> {
    if field.array {
        let n = r.count("array")?;
        for _ in 0..n {
            let before = r.pos;
            skip_one(r, types, field.kind, field.cp, depth)?;
            if r.pos == before {
                // Elements of this type take no bytes: all of them are skipped.
                break;
            }
        }
        Ok(())
    } else {
        skip_one(r, types, field.kind, field.cp, depth)
    }
}

#[inline]
fn skip_one(r: &mut Reader<'_>, types: &Types, kind: Kind, cp: bool, depth: usize) -> Res<()> {
    if cp {
        return r.long().map(|_| ());
    }
    match kind {
        Kind::Bool | Kind::Byte => r.skip(1),
        Kind::Short | Kind::Char => r.short().map(|_| ()),
        Kind::Int => r.int().map(|_| ()),
        Kind::Long => r.long().map(|_| ()),
        Kind::Float => r.skip(4),
        Kind::Double => r.skip(8),
        Kind::Str => r.skip_string(),
        Kind::Struct(c) => skip_struct(r, types, c, depth + 1),
    }
}

/// Skips one value of class `class` (a primitive class or a struct).
pub(crate) fn skip_struct(
    r: &mut Reader<'_>,
    types: &Types,
    class: usize,
    depth: usize,
) -> Res<()> {
    if depth > MAX_VALUE_DEPTH {
        return Err(ReadError::new(format!(
            "values nested deeper than `{MAX_VALUE_DEPTH}`"
        )));
    }
    let c = &types.classes[class];
    if let Some(p) = c.primitive {
        return skip_one(r, types, p, false, depth);
    }
    for f in &c.fields {
        skip_field(r, types, f, depth)?;
    }
    Ok(())
}

/// A scalar value: a number (raw bits, zero-extended) or a string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Num(u64),
    Str(crate::reader::JStr<'a>),
}

impl Scalar<'_> {
    pub(crate) fn num(self) -> Option<u64> {
        match self {
            Scalar::Num(v) => Some(v),
            Scalar::Str(_) => None,
        }
    }
}

/// Reads one scalar field (callers check [`Field::is_scalar`]).
#[inline]
pub(crate) fn read_scalar<'a>(r: &mut Reader<'a>, field: &Field) -> Res<Scalar<'a>> {
    if field.cp {
        return Ok(Scalar::Num(r.long()?));
    }
    Ok(match field.kind {
        Kind::Bool | Kind::Byte => Scalar::Num(u64::from(r.u8()?)),
        Kind::Short | Kind::Char => Scalar::Num(u64::from(r.short()?)),
        Kind::Int => Scalar::Num(u64::from(r.int()?)),
        Kind::Long => Scalar::Num(r.long()?),
        Kind::Float => Scalar::Num(u64::from(u32::from_be_bytes(
            r.bytes(4)?.try_into().map_err(|_| crate::reader::eof())?,
        ))),
        Kind::Double => Scalar::Num(u64::from_be_bytes(
            r.bytes(8)?.try_into().map_err(|_| crate::reader::eof())?,
        )),
        Kind::Str => Scalar::Str(r.string()?),
        Kind::Struct(_) => return Err(ReadError::new("struct read as a scalar")),
    })
}
