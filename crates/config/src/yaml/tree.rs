//! A small YAML node tree built from yaml-rust2's event stream, keeping what yaml.v2 needs:
//! line numbers, plain-versus-quoted style, tags and aliases.
//!
//! Only the first document is read (yaml.v2's `Unmarshal` stops there), so anything after a
//! `---` separator is never scanned and cannot cause an error.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::syntax::syntax_error;
use crate::ConfigError;

/// Index of a node in [`Document::nodes`].
pub type NodeId = usize;

/// What a node holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar with its original text. `plain` is false for quoted and block scalars.
    Scalar { value: String, plain: bool },
    /// A sequence of child nodes.
    Seq(Vec<NodeId>),
    /// A mapping: keys and values alternate (`[k0, v0, k1, v1, ...]`).
    Map(Vec<NodeId>),
    /// An alias; `target` is the anchored node, `name` the anchor's name (for messages).
    Alias { target: NodeId, name: String },
}

/// One node with its 1-based source line and its explicit tag (full form), if any.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub line: usize,
    pub tag: Option<String>,
}

/// The first document of a YAML stream.
#[derive(Debug)]
pub struct Document {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

/// A collection being filled while its events arrive.
struct Open {
    id: NodeId,
}

/// Parses `text` and returns its first document, or `None` for a stream without documents
/// (empty or comments only).
pub fn parse_first_document(text: &str) -> Result<Option<Document>, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, NodeId> = HashMap::new();
    let mut root: Option<NodeId> = None;

    loop {
        let (event, mark) = parser.next_token().map_err(|e| syntax_error(&e, text))?;
        let line = mark.line();
        let is_seq = matches!(event, Event::SequenceStart(..));
        let new_node = match event {
            Event::StreamStart | Event::Nothing => continue,
            Event::StreamEnd => return Ok(None),
            Event::DocumentStart => continue,
            Event::DocumentEnd => {
                // The first document is complete: stop before the scanner looks any further.
                return Ok(root.map(|root| Document { nodes, root }));
            }
            Event::Scalar(value, style, anchor, tag) => {
                let id = push(
                    &mut nodes,
                    Node {
                        kind: Kind::Scalar {
                            value,
                            plain: style == TScalarStyle::Plain,
                        },
                        line,
                        tag: tag.map(full_tag),
                    },
                );
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                Some(id)
            }
            Event::Alias(anchor) => {
                let target = anchors
                    .get(&anchor)
                    .copied()
                    .ok_or_else(|| ConfigError::new("yaml: unknown anchor referenced"))?;
                let name = alias_name(text, mark.index());
                Some(push(
                    &mut nodes,
                    Node {
                        kind: Kind::Alias { target, name },
                        line,
                        tag: None,
                    },
                ))
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let kind = if is_seq {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                };
                let id = push(
                    &mut nodes,
                    Node {
                        kind,
                        line,
                        tag: tag.map(full_tag),
                    },
                );
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                attach(&mut nodes, &stack, &mut root, id);
                stack.push(Open { id });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                None
            }
        };
        if let Some(id) = new_node {
            attach(&mut nodes, &stack, &mut root, id);
        }
    }
}

fn push(nodes: &mut Vec<Node>, node: Node) -> NodeId {
    nodes.push(node);
    nodes.len() - 1
}

/// Appends `child` to the innermost open collection, or makes it the root.
fn attach(nodes: &mut [Node], stack: &[Open], root: &mut Option<NodeId>, child: NodeId) {
    match stack.last() {
        Some(open) => match &mut nodes[open.id].kind {
            Kind::Seq(children) | Kind::Map(children) => children.push(child),
            Kind::Scalar { .. } | Kind::Alias { .. } => {}
        },
        None => {
            if root.is_none() {
                *root = Some(child);
            }
        }
    }
}

/// yaml-rust2 splits a tag into its resolved prefix and suffix; yaml.v2 works on the full tag.
fn full_tag(tag: Tag) -> String {
    tag.handle + &tag.suffix
}

/// Recovers the anchor name of an alias from the source (yaml-rust2 only reports its id).
/// `char_index` is the marker's position in characters, pointing at the `*`.
fn alias_name(text: &str, char_index: usize) -> String {
    text.chars()
        .skip(char_index)
        .skip_while(|c| *c == '*')
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .take(256)
        .collect()
}
