//! Turns yaml-rust2's scan and parse errors into yaml.v2's message form.
//!
//! yaml.v2 (libyaml) prints `yaml: line N: <problem>`. Its line rule is quirky and reproduced
//! here: scanner errors show the 1-based line, parser errors show the 0-based line (one less),
//! and an error whose 0-based line is 0 shows no line at all. yaml-rust2 words some problems
//! differently from libyaml; the common ones are translated to libyaml's wording, the rest keep
//! yaml-rust2's text with its `while scanning ...,` context removed.

use yaml_rust2::scanner::ScanError;

use crate::ConfigError;

/// Whether libyaml would report the problem from its scanner or from its parser.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Scanner,
    Parser,
    /// Reported by yaml.v2's own decoder, without a line.
    Decoder,
}

/// Converts a yaml-rust2 error into the text yaml.v2 would return for the same input.
pub fn syntax_error(err: &ScanError, text: &str) -> ConfigError {
    let (stage, problem) = translate(err.info(), err, text);
    // Marker lines are 1-based; libyaml's are 0-based. An unterminated quoted scalar is
    // reported by libyaml where the input ends, by yaml-rust2 where the scalar starts.
    let marker_line = if problem == "found unexpected end of stream" {
        text.matches('\n').count() + 1
    } else {
        err.marker().line()
    };
    let zero_based = marker_line.saturating_sub(1);
    let shown = match stage {
        Stage::Scanner if zero_based != 0 => Some(zero_based + 1),
        Stage::Parser if zero_based != 0 => Some(zero_based),
        _ => None,
    };
    match shown {
        Some(line) => ConfigError::new(format!("yaml: line {line}: {problem}")),
        None => ConfigError::new(format!("yaml: {problem}")),
    }
}

fn translate(info: &str, err: &ScanError, text: &str) -> (Stage, String) {
    use Stage::{Decoder, Parser, Scanner};
    let exact: Option<(Stage, &str)> = match info {
        "tab cannot be used as indentation"
        | "tabs disallowed within this context (block indentation)"
        | "tabs disallowed in this context" => {
            Some((Scanner, "found character that cannot start any token"))
        }
        "while scanning a plain scalar, found a tab" => {
            Some((Scanner, "found a tab character that violates indentation"))
        }
        "mapping values are not allowed in this context" => {
            Some((Scanner, "mapping values are not allowed in this context"))
        }
        "block sequence entries are not allowed in this context" => Some((
            Scanner,
            "block sequence entries are not allowed in this context",
        )),
        "simple key expect ':'" | "simple key expected" => {
            Some((Scanner, "could not find expected ':'"))
        }
        "while scanning a quoted scalar, found unexpected end of stream" => {
            Some((Scanner, "found unexpected end of stream"))
        }
        "while scanning a quoted scalar, found unexpected document indicator" => {
            Some((Scanner, "found unexpected document indicator"))
        }
        "while parsing a block mapping, did not find expected key" => {
            Some((Parser, "did not find expected key"))
        }
        "while parsing a block collection, did not find expected '-' indicator" => {
            Some((Parser, "did not find expected '-' indicator"))
        }
        "while parsing a node, did not find expected node content" => {
            Some((Parser, "did not find expected node content"))
        }
        "while parsing a flow sequence, expected ',' or ']'" => {
            Some((Parser, "did not find expected ',' or ']'"))
        }
        "while parsing a flow mapping, did not find expected ',' or '}'" => {
            Some((Parser, "did not find expected ',' or '}'"))
        }
        "did not find expected <document start>" | "did not find expected <document-start>" => {
            Some((Parser, "did not find expected <document start>"))
        }
        "found incompatible YAML document" => Some((Parser, "found incompatible YAML document")),
        _ => None,
    };
    if let Some((stage, text)) = exact {
        return (stage, text.to_owned());
    }
    if info.starts_with("unexpected character") {
        return (
            Scanner,
            "found character that cannot start any token".to_owned(),
        );
    }
    if info == "while parsing node, found unknown anchor" {
        // yaml.v2 words this itself, with the anchor's name.
        let name: String = text
            .chars()
            .skip(err.marker().index())
            .skip_while(|c| *c == '*')
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .take(256)
            .collect();
        return (Decoder, format!("unknown anchor '{name}' referenced"));
    }
    // yaml-rust2's parser (as opposed to its scanner) reports only these.
    const PARSER_PROBLEMS: &[&str] = &[
        "did not find expected <stream-start>",
        "duplicate version directive",
        "missing explicit document end marker before directive",
        "the TAG directive must only be given at most once per handle in the same document",
        "the handle wasn't declared",
        "unexpected eof",
        "while parsing anchor, found duplicated anchor",
    ];
    let stage = if PARSER_PROBLEMS.contains(&info) {
        Parser
    } else {
        Scanner
    };
    let problem = match info.split_once(", ") {
        Some((context, rest)) if context.starts_with("while ") => rest,
        _ => info,
    };
    (stage, problem.to_owned())
}
