//! yaml.v2's decoder (`decode.go`) in strict mode, over the node tree: type errors are collected
//! (`line N: ...`) and reported together, while errors from custom unmarshalers and a few
//! structural problems stop decoding at once (yaml.v2 panics and recovers with them).

use std::collections::HashSet;

use crate::ConfigError;
use crate::yaml::resolve::{
    MAP_TAG, MERGE_TAG, NULL_TAG, SEQ_TAG, STR_TAG, Value, resolve, short_tag,
};
use crate::yaml::tree::{Document, Kind, NodeId};

/// A fatal decoding error: returned as is (no `unmarshal errors` wrapper).
pub type Fatal = ConfigError;

/// Decoding recursion beyond this is refused. Only nested merge keys (`<<`) can nest deeper
/// than the schema (four levels); Go's growable stacks have no such limit, ours are fixed, and
/// a config nesting merges this deep is not a real one.
const MAX_DEPTH: usize = 256;

/// A Go struct decoded from a mapping (yaml.v2 `mappingStruct`).
pub trait GoStruct {
    /// The Go type name, e.g. `web.TLSConfig`.
    const NAME: &'static str;
    /// The yaml field names, in declaration order.
    const FIELDS: &'static [&'static str];
    /// Sets every field to its Go zero value (a null section).
    fn zero(&mut self);
    /// Decodes the value of field `FIELDS[field]`.
    fn decode_field(
        &mut self,
        d: &mut Decoder<'_>,
        field: usize,
        value: NodeId,
    ) -> Result<(), Fatal>;
}

/// Outcome of decoding into a slice.
pub enum SeqOutcome<T> {
    /// The value was null: the slice becomes nil.
    Nil,
    /// A sequence: the elements that decoded.
    Items(Vec<T>),
    /// Not a sequence (a type error was recorded): the slice is left alone.
    Unchanged,
}

/// A node with aliases followed.
struct Resolved<'n> {
    kind: &'n Kind,
    line: usize,
    tag: Option<&'n str>,
}

/// The decoder state: collected type errors and yaml.v2's alias accounting.
pub struct Decoder<'a> {
    doc: &'a Document,
    terrors: Vec<String>,
    active_aliases: HashSet<NodeId>,
    alias_depth: usize,
    decode_count: u64,
    alias_count: u64,
    depth: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `doc`.
    pub fn new(doc: &'a Document) -> Self {
        Self {
            doc,
            terrors: Vec::new(),
            active_aliases: HashSet::new(),
            alias_depth: 0,
            decode_count: 0,
            alias_count: 0,
            depth: 0,
        }
    }

    /// The collected type errors as yaml.v2's `TypeError`, if any.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.terrors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::new(format!(
                "yaml: unmarshal errors:\n  {}",
                self.terrors.join("\n  ")
            )))
        }
    }

    /// Runs `f` on the node behind `id`, following an alias the way yaml.v2's `d.alias` does
    /// (cycle detection, alias accounting).
    fn visit<R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut Self, NodeId) -> Result<R, Fatal>,
    ) -> Result<R, Fatal> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err(ConfigError::new(
                "yaml: document contains excessive aliasing",
            ));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ConfigError::new(format!(
                "yaml: exceeded max depth of {MAX_DEPTH}"
            )));
        }
        let result = match &self.doc.nodes[id].kind {
            Kind::Alias { target, name } => {
                let target = *target;
                if !self.active_aliases.insert(id) {
                    let name = name.clone();
                    self.depth -= 1;
                    return Err(ConfigError::new(format!(
                        "yaml: anchor '{name}' value contains itself"
                    )));
                }
                self.alias_depth += 1;
                let r = self.visit(target, f);
                self.alias_depth -= 1;
                self.active_aliases.remove(&id);
                r
            }
            _ => f(self, id),
        };
        self.depth -= 1;
        result
    }

    fn node(&self, id: NodeId) -> Resolved<'a> {
        let n = &self.doc.nodes[id];
        Resolved {
            kind: &n.kind,
            line: n.line,
            tag: n.tag.as_deref(),
        }
    }

    /// Records yaml.v2's `terror`: ``line N: cannot unmarshal !!tag `value` into T``.
    fn terror(&mut self, id: NodeId, tag: &str, go_type: &str) {
        let n = self.node(id);
        let tag = n.tag.unwrap_or(tag);
        let value = match n.kind {
            Kind::Scalar { value, .. } if tag != SEQ_TAG && tag != MAP_TAG => {
                if value.len() > 10 {
                    format!(" `{}...`", String::from_utf8_lossy(&value.as_bytes()[..7]))
                } else {
                    format!(" `{value}`")
                }
            }
            _ => String::new(),
        };
        self.terrors.push(format!(
            "line {}: cannot unmarshal {}{} into {}",
            n.line,
            short_tag(tag),
            value,
            go_type
        ));
    }

    /// Records a strict-mode error at the line of `id`.
    fn line_error(&mut self, id: NodeId, text: String) {
        let line = self.node(id).line;
        self.terrors.push(format!("line {line}: {text}"));
    }

    /// yaml.v2's scalar resolution for `id` (a scalar): the tag used in messages and the value.
    fn resolve_scalar(&self, id: NodeId) -> Result<(String, Value), Fatal> {
        let n = self.node(id);
        let Kind::Scalar { value, plain } = n.kind else {
            unreachable!("resolve_scalar on a collection");
        };
        match n.tag {
            // Quoted and block scalars without a tag are strings.
            None if !plain => Ok((STR_TAG.to_owned(), Value::Str)),
            None => resolve("", value),
            Some(tag) => resolve(tag, value),
        }
    }

    /// yaml.v2's `prepare` null test: such a value never reaches a custom unmarshaler.
    fn is_prepare_null(&self, id: NodeId) -> bool {
        let n = self.node(id);
        if n.tag == Some(NULL_TAG) {
            return true;
        }
        match n.kind {
            Kind::Scalar { value, plain } if n.tag.is_none() => {
                value == "null" || value == "~" || (value.is_empty() && *plain)
            }
            _ => false,
        }
    }

    /// Decodes into a Go `string` (or a named string type called `go_type`). `Some` when
    /// yaml.v2 reports success: null gives `""`, any other scalar its original text.
    pub fn string(&mut self, id: NodeId, go_type: &str) -> Result<Option<String>, Fatal> {
        self.visit(id, |d, id| {
            let n = d.node(id);
            match n.kind {
                Kind::Seq(_) => {
                    d.terror(id, SEQ_TAG, go_type);
                    Ok(None)
                }
                Kind::Map(_) => {
                    d.terror(id, MAP_TAG, go_type);
                    Ok(None)
                }
                Kind::Scalar { value, .. } => {
                    let (_, resolved) = d.resolve_scalar(id)?;
                    Ok(Some(match resolved {
                        Value::Null => String::new(),
                        _ => value.clone(),
                    }))
                }
                Kind::Alias { .. } => unreachable!("aliases are followed"),
            }
        })
    }

    /// Decodes into `config_util.Secret`, whose `UnmarshalYAML` decodes into a local
    /// `type plain Secret` (so type errors name `config.plain`).
    pub fn secret(&mut self, id: NodeId) -> Result<Option<String>, Fatal> {
        self.visit(id, |d, id| {
            if d.is_prepare_null(id) {
                return d.string(id, "config.Secret");
            }
            d.string(id, "config.plain")
        })
    }

    /// Decodes a Go `bool` (YAML 1.1 booleans; quoted text is an error).
    pub fn bool(&mut self, id: NodeId) -> Result<Option<bool>, Fatal> {
        self.scalar_as(id, "bool", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }

    /// Decodes a Go `int` (64-bit): ints, and floats truncated.
    pub fn int(&mut self, id: NodeId) -> Result<Option<i64>, Fatal> {
        self.scalar_as(id, "int", int_from)
    }

    /// Decodes a `time.Duration`: an int (nanoseconds), a float (truncated) or a string in
    /// `time.ParseDuration` syntax.
    pub fn duration(&mut self, id: NodeId) -> Result<Option<i64>, Fatal> {
        let text = match &self.doc.nodes[self.follow(id)].kind {
            Kind::Scalar { value, .. } => Some(value.clone()),
            _ => None,
        };
        self.scalar_as(id, "time.Duration", move |v| match v {
            Value::Str => text
                .as_deref()
                .and_then(scrapegate_model::duration::parse_go_duration),
            other => int_from(other),
        })
    }

    /// The node an alias chain ends at.
    fn follow(&self, mut id: NodeId) -> NodeId {
        for _ in 0..64 {
            match &self.doc.nodes[id].kind {
                Kind::Alias { target, .. } => id = *target,
                _ => return id,
            }
        }
        id
    }

    /// yaml.v2's `d.scalar` into a non-string kind: null gives the zero value (`Some(default)`
    /// is returned by the caller through `T::default`), a matching value is converted, anything
    /// else is a type error.
    fn scalar_as<T: Default>(
        &mut self,
        id: NodeId,
        go_type: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>, Fatal> {
        self.visit(id, |d, id| {
            let n = d.node(id);
            match n.kind {
                Kind::Seq(_) => {
                    d.terror(id, SEQ_TAG, go_type);
                    Ok(None)
                }
                Kind::Map(_) => {
                    d.terror(id, MAP_TAG, go_type);
                    Ok(None)
                }
                Kind::Scalar { .. } => {
                    let (tag, resolved) = d.resolve_scalar(id)?;
                    if resolved == Value::Null {
                        return Ok(Some(T::default()));
                    }
                    match convert(&resolved) {
                        Some(v) => Ok(Some(v)),
                        None => {
                            d.terror(id, &tag, go_type);
                            Ok(None)
                        }
                    }
                }
                Kind::Alias { .. } => unreachable!("aliases are followed"),
            }
        })
    }

    /// Decodes a string-backed enum with a custom `UnmarshalYAML` (TLS version, cipher, curve).
    /// Null gives `Some(None)` (Go's zero value); an unknown name is the unmarshaler's own error,
    /// which stops decoding: `<prefix><name>`.
    pub fn go_enum<T>(
        &mut self,
        id: NodeId,
        go_type: &str,
        parse: fn(&str) -> Option<T>,
        error_prefix: &str,
    ) -> Result<Option<Option<T>>, Fatal> {
        self.visit(id, |d, id| {
            if d.is_prepare_null(id) {
                // No unmarshaler: yaml.v2 stores the zero value of the integer type, unless the
                // text is a quoted "null", which is a string and so a type error.
                return Ok(d.scalar_as(id, go_type, |_| None::<u8>)?.map(|_| None));
            }
            let Some(name) = d.string(id, "string")? else {
                return Ok(None);
            };
            match parse(&name) {
                Some(v) => Ok(Some(Some(v))),
                None => Err(ConfigError::new(format!("{error_prefix}{name}"))),
            }
        })
    }

    /// Decodes a Go slice: null is nil, a sequence gives its decodable elements.
    pub fn seq<T>(
        &mut self,
        id: NodeId,
        go_type: &str,
        mut elem: impl FnMut(&mut Self, NodeId) -> Result<Option<T>, Fatal>,
    ) -> Result<SeqOutcome<T>, Fatal> {
        self.visit(id, |d, id| {
            let n = d.node(id);
            match n.kind {
                Kind::Seq(children) => {
                    let mut out = Vec::new();
                    for &child in children {
                        if let Some(v) = elem(d, child)? {
                            out.push(v);
                        }
                    }
                    Ok(SeqOutcome::Items(out))
                }
                Kind::Map(_) => {
                    d.terror(id, MAP_TAG, go_type);
                    Ok(SeqOutcome::Unchanged)
                }
                Kind::Scalar { .. } => {
                    let (tag, resolved) = d.resolve_scalar(id)?;
                    if resolved == Value::Null {
                        return Ok(SeqOutcome::Nil);
                    }
                    d.terror(id, &tag, go_type);
                    Ok(SeqOutcome::Unchanged)
                }
                Kind::Alias { .. } => unreachable!("aliases are followed"),
            }
        })
    }

    /// Decodes a Go `map[string]V` into `out` (insertion order kept). `None` in `out` is a nil
    /// map. Duplicate keys are strict-mode errors at the value's line.
    pub fn string_map(
        &mut self,
        id: NodeId,
        go_type: &str,
        out: &mut Option<Vec<(String, String)>>,
        elem: fn(&mut Self, NodeId) -> Result<Option<String>, Fatal>,
    ) -> Result<(), Fatal> {
        self.visit(id, |d, id| {
            let n = d.node(id);
            match n.kind {
                Kind::Map(children) => {
                    let children = children.clone();
                    let mut entries = out.take().unwrap_or_default();
                    let r = d.map_entries(&children, &mut entries, elem);
                    *out = Some(entries);
                    r
                }
                Kind::Seq(_) => {
                    d.terror(id, SEQ_TAG, go_type);
                    Ok(())
                }
                Kind::Scalar { .. } => {
                    let (tag, resolved) = d.resolve_scalar(id)?;
                    if resolved == Value::Null {
                        *out = None;
                    } else {
                        d.terror(id, &tag, go_type);
                    }
                    Ok(())
                }
                Kind::Alias { .. } => unreachable!("aliases are followed"),
            }
        })
    }

    fn map_entries(
        &mut self,
        children: &[NodeId],

        entries: &mut Vec<(String, String)>,
        elem: fn(&mut Self, NodeId) -> Result<Option<String>, Fatal>,
    ) -> Result<(), Fatal> {
        for pair in children.chunks(2) {
            let [key, value] = *pair else { break };
            if self.is_merge(key) {
                self.merge(value, &mut |d, merged| {
                    d.visit(merged, |d, merged| {
                        if let Kind::Map(c) = d.node(merged).kind {
                            let c = c.clone();
                            d.map_entries(&c, entries, elem)
                        } else {
                            Ok(())
                        }
                    })
                })?;
                continue;
            }
            let Some(k) = self.string(key, "string")? else {
                continue;
            };
            let Some(v) = elem(self, value)? else {
                continue;
            };
            if entries.iter().any(|(existing, _)| *existing == k) {
                let quoted = scrapegate_model::bcrypt::go_quote_bytes(k.as_bytes());
                self.line_error(value, format!("key {quoted} already set in map"));
                continue;
            }
            entries.push((k, v));
        }
        Ok(())
    }

    /// Decodes a mapping into a struct, or zeroes it for null (yaml.v2 `mappingStruct`).
    pub fn go_struct<S: GoStruct>(&mut self, id: NodeId, out: &mut S) -> Result<(), Fatal> {
        self.visit(id, |d, id| {
            let n = d.node(id);
            match n.kind {
                Kind::Map(children) => {
                    let children = children.clone();
                    d.struct_fields(&children, out)
                }
                Kind::Seq(_) => {
                    d.terror(id, SEQ_TAG, S::NAME);
                    Ok(())
                }
                Kind::Scalar { .. } => {
                    let (tag, resolved) = d.resolve_scalar(id)?;
                    if resolved == Value::Null {
                        out.zero();
                    } else {
                        d.terror(id, &tag, S::NAME);
                    }
                    Ok(())
                }
                Kind::Alias { .. } => unreachable!("aliases are followed"),
            }
        })
    }

    fn struct_fields<S: GoStruct>(
        &mut self,
        children: &[NodeId],
        out: &mut S,
    ) -> Result<(), Fatal> {
        let mut done = vec![false; S::FIELDS.len()];
        for pair in children.chunks(2) {
            let [key, value] = *pair else { break };
            if self.is_merge(key) {
                self.merge(value, &mut |d, merged| d.go_struct(merged, out))?;
                continue;
            }
            let Some(name) = self.string(key, "string")? else {
                continue;
            };
            match S::FIELDS.iter().position(|f| *f == name) {
                Some(field) => {
                    if done[field] {
                        self.line_error(
                            key,
                            format!("field {name} already set in type {}", S::NAME),
                        );
                        continue;
                    }
                    done[field] = true;
                    out.decode_field(self, field, value)?;
                }
                None => {
                    self.line_error(key, format!("field {name} not found in type {}", S::NAME));
                }
            }
        }
        Ok(())
    }

    /// yaml.v2's `isMerge`: a plain `<<` key (or one tagged `!!merge`).
    fn is_merge(&self, id: NodeId) -> bool {
        let n = self.node(id);
        matches!(n.kind, Kind::Scalar { value, plain } if value == "<<" && (*plain && n.tag.is_none() || n.tag == Some(MERGE_TAG)))
    }

    /// yaml.v2's `d.merge`: a map, an alias of a map, or a sequence of those (applied last to
    /// first, so earlier ones win).
    fn merge(
        &mut self,
        value: NodeId,
        apply: &mut dyn FnMut(&mut Self, NodeId) -> Result<(), Fatal>,
    ) -> Result<(), Fatal> {
        let want_map =
            || ConfigError::new("yaml: map merge requires map or sequence of maps as the value");
        let target_kind = |d: &Self, id: NodeId| &d.doc.nodes[d.follow(id)].kind;
        match &self.doc.nodes[value].kind {
            Kind::Map(_) => apply(self, value),
            Kind::Alias { .. } => {
                if !matches!(target_kind(self, value), Kind::Map(_)) {
                    return Err(want_map());
                }
                apply(self, value)
            }
            Kind::Seq(children) => {
                let children = children.clone();
                for &child in children.iter().rev() {
                    if !matches!(target_kind(self, child), Kind::Map(_)) {
                        return Err(want_map());
                    }
                    apply(self, child)?;
                }
                Ok(())
            }
            Kind::Scalar { .. } => Err(want_map()),
        }
    }
}

fn int_from(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => i64::try_from(*i).ok(),
        Value::Float(f) if *f <= i64::MAX as f64 => Some(*f as i64),
        _ => None,
    }
}

/// yaml.v2's `allowedAliasRatio` (billion-laughs protection).
fn allowed_alias_ratio(decode_count: u64) -> f64 {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decode_count - LOW) as f64 / (HIGH - LOW) as f64)
    }
}
