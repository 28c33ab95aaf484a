//! Keeps `docs/events.md` and `docs/protocol.md` in step with the typed protocol.
//!
//! - every ```json block in `events.md` parses as an [`Event`], sits in its own
//!   `### \`name\`` section of the catalog, and every `Event` variant has one;
//! - the error-code table in `events.md` lists every [`ErrorCode`] and nothing else;
//! - the seed-mapping tables only name events the catalog really has;
//! - every ```json block in `protocol.md` parses as a [`ClientMessage`] or a
//!   [`ServerMessage`], and every request type, server message type and reply
//!   result has an example; so does every line of the ```session transcripts.
//!
//! The lists of variant names are not written by hand: they come from the
//! derived `Deserialize` impls themselves. Asking serde to deserialize a tag
//! that no variant has makes the derived code report `unknown_variant(.., VARIANTS)`
//! with the full list of wire names; the [`Probe`] error type below captures that
//! list. A variant added to any of these enums therefore shows up here at once,
//! and the test fails until the docs have an example of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use conclave_protocol::{
    ClientMessage, ClientRequest, ErrorCode, Event, Limits, PROTOCOL_VERSION, ReplyBody,
    ServerMessage,
};
use serde::de::DeserializeOwned;
use serde::de::value::{MapDeserializer, StrDeserializer};
use serde_json::Value;

const EVENTS_MD_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
const PROTOCOL_MD_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn events_md() -> String {
    read(EVENTS_MD_PATH)
}

fn protocol_md() -> String {
    read(PROTOCOL_MD_PATH)
}

// ---------------------------------------------------------------------------
// Variant names, straight from the derived Deserialize impls.

/// A serde error that remembers the variant list the derived code reports.
#[derive(Debug)]
struct Probe(Option<&'static [&'static str]>);

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probe: {:?}", self.0)
    }
}

impl std::error::Error for Probe {}

impl serde::de::Error for Probe {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Probe(None)
    }
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Probe(Some(expected))
    }
}

const NO_SUCH_VARIANT: &str = "\u{0}no such variant";

fn names_from(result: Result<impl fmt::Debug, Probe>, what: &str) -> BTreeSet<String> {
    match result {
        Err(Probe(Some(names))) => {
            assert!(
                !names.is_empty(),
                "{what}: serde reported an empty variant list"
            );
            names.iter().map(|n| n.to_string()).collect()
        }
        Err(Probe(None)) => {
            panic!("{what}: serde did not report the variant list; the probe needs updating")
        }
        Ok(v) => panic!("{what}: a bogus tag deserialized as {v:?}"),
    }
}

/// Wire names of a tagged enum (`#[serde(tag = ..)]`, internally or adjacently tagged).
fn tagged_names<T: DeserializeOwned + fmt::Debug>(
    tag: &'static str,
    what: &str,
) -> BTreeSet<String> {
    let de = MapDeserializer::<_, Probe>::new(std::iter::once((tag, NO_SUCH_VARIANT)));
    names_from(T::deserialize(de), what)
}

/// Wire names of a plain (externally tagged, unit-variant) enum.
fn plain_names<T: DeserializeOwned + fmt::Debug>(what: &str) -> BTreeSet<String> {
    let de = StrDeserializer::<Probe>::new(NO_SUCH_VARIANT);
    names_from(T::deserialize(de), what)
}

fn event_names() -> BTreeSet<String> {
    tagged_names::<Event>("event", "Event")
}

// ---------------------------------------------------------------------------
// A small Markdown reader: headings, fenced blocks and table rows, with line numbers.

#[derive(Debug)]
struct Block {
    lang: String,
    text: String,
    /// 1-based line of the opening fence.
    line: usize,
    h2: String,
    h3: String,
}

#[derive(Debug, Default)]
struct Doc {
    blocks: Vec<Block>,
    /// `### ` headings: (h2, h3 text, line).
    h3s: Vec<(String, String, usize)>,
    /// Table rows outside fences: (h2, cells, line).
    rows: Vec<(String, Vec<String>, usize)>,
}

fn read_doc(md: &str) -> Doc {
    let mut doc = Doc::default();
    let (mut h2, mut h3) = (String::new(), String::new());
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let n = i + 1;
        if let Some(block) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                doc.blocks.push(open.take().unwrap());
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
            continue;
        }
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            open = Some(Block {
                lang: rest.trim().to_owned(),
                text: String::new(),
                line: n,
                h2: h2.clone(),
                h3: h3.clone(),
            });
        } else if let Some(t) = line.strip_prefix("## ") {
            h2 = t.trim().to_owned();
            h3.clear();
        } else if let Some(t) = line.strip_prefix("### ") {
            h3 = t.trim().to_owned();
            doc.h3s.push((h2.clone(), h3.clone(), n));
        } else if line.trim_start().starts_with('|') {
            let t = line.trim();
            let inner = t.strip_prefix('|').unwrap_or(t);
            let inner = inner.strip_suffix('|').unwrap_or(inner);
            let cells = split_cells(inner);
            doc.rows.push((h2.clone(), cells, n));
        } else if line.starts_with("# ") {
            h2.clear();
            h3.clear();
        }
    }
    assert!(open.is_none(), "an unclosed ``` fence");
    doc
}

/// Splits a table row on `|`, leaving escaped `\|` and pipes inside backticks alone.
fn split_cells(inner: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut in_code = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '`' => {
                in_code = !in_code;
                cells.last_mut().unwrap().push(c);
            }
            '|' if !in_code => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The `backticked` spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// Groups table rows of one `## ` section into tables (split where line numbers jump),
/// each as (header cells, body rows).
fn tables<'a>(doc: &'a Doc, h2: &str) -> Vec<(&'a [String], Vec<(&'a [String], usize)>)> {
    let mut out: Vec<(&[String], Vec<(&[String], usize)>)> = Vec::new();
    let mut last_line = 0;
    for (section, cells, line) in &doc.rows {
        if section != h2 {
            continue;
        }
        if *line != last_line + 1 || out.is_empty() {
            out.push((cells.as_slice(), Vec::new()));
        } else if !is_separator(cells) {
            out.last_mut().unwrap().1.push((cells.as_slice(), *line));
        }
        last_line = *line;
    }
    out
}

fn show(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// docs/events.md

const CATALOG: &str = "Event catalog";
const ERROR_CODES: &str = "Error codes";
const SEED_MAPPING: &str = "Seed mapping";

#[test]
fn events_md_sections_exist() {
    let md = events_md();
    let doc = read_doc(&md);
    let h2s: BTreeSet<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::trim)
        .collect();
    for wanted in [CATALOG, ERROR_CODES, SEED_MAPPING] {
        assert!(
            h2s.contains(wanted),
            "docs/events.md has no `## {wanted}` section (found: {h2s:?})"
        );
    }
    assert!(!doc.blocks.is_empty());
}

#[test]
fn every_event_json_block_parses_and_matches_its_section() {
    let doc = read_doc(&events_md());
    let mut failures = Vec::new();
    for b in doc.blocks.iter().filter(|b| b.lang == "json") {
        if b.h2 != CATALOG {
            failures.push(format!(
                "docs/events.md:{}: a ```json block outside `## {CATALOG}` (under `## {}`); examples belong in the catalog",
                b.line, b.h2
            ));
            continue;
        }
        match serde_json::from_str::<Event>(&b.text) {
            Ok(event) => {
                let heading = format!("`{}`", event.name());
                if b.h3 != heading {
                    failures.push(format!(
                        "docs/events.md:{}: a `{}` example under the section `### {}`:\n{}",
                        b.line,
                        event.name(),
                        b.h3,
                        b.text
                    ));
                }
                // The example must be the full, canonical wire form: nothing the
                // type would drop or fill in on a round trip.
                let written: Value = serde_json::from_str(&b.text).unwrap();
                let canonical = serde_json::to_value(&event).unwrap();
                if written != canonical {
                    failures.push(format!(
                        "docs/events.md:{}: the example is not in canonical wire form.\nwritten:   {written}\ncanonical: {canonical}",
                        b.line
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "docs/events.md:{}: this ```json block does not parse as conclave_protocol::Event: {e}\n{}",
                b.line, b.text
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_event_variant_has_exactly_one_section_with_one_example() {
    let doc = read_doc(&events_md());
    let names = event_names();

    let mut sections: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (h2, h3, line) in &doc.h3s {
        if h2 != CATALOG {
            continue;
        }
        let Some(name) = h3.strip_prefix('`').and_then(|s| s.strip_suffix('`')) else {
            failures.push(format!("docs/events.md:{line}: catalog section `### {h3}` is not of the form ### `event.name`"));
            continue;
        };
        if !names.contains(name) {
            failures.push(format!(
                "docs/events.md:{line}: section for `{name}`, which is not an Event variant"
            ));
        }
        *sections.entry(name.to_owned()).or_default() += 1;
    }
    for (name, count) in &sections {
        if *count != 1 {
            failures.push(format!(
                "docs/events.md: `{name}` has {count} sections, want 1"
            ));
        }
    }
    let documented: BTreeSet<String> = sections.keys().cloned().collect();
    let missing: BTreeSet<String> = names.difference(&documented).cloned().collect();
    if !missing.is_empty() {
        failures.push(format!(
            "docs/events.md has no catalog section for: {}",
            show(&missing)
        ));
    }

    // Exactly one ```json example per section.
    for name in &documented {
        let heading = format!("`{name}`");
        let n = doc
            .blocks
            .iter()
            .filter(|b| b.lang == "json" && b.h2 == CATALOG && b.h3 == heading)
            .count();
        if n != 1 {
            failures.push(format!(
                "docs/events.md: section `{name}` has {n} ```json examples, want exactly 1"
            ));
        }
    }

    // And the examples cover every variant (belt and braces: by parsed name, not by heading).
    let examples: BTreeSet<String> = doc
        .blocks
        .iter()
        .filter(|b| b.lang == "json")
        .filter_map(|b| serde_json::from_str::<Event>(&b.text).ok())
        .map(|e| e.name())
        .collect();
    let unexampled: BTreeSet<String> = names.difference(&examples).cloned().collect();
    if !unexampled.is_empty() {
        failures.push(format!(
            "docs/events.md has no JSON example for: {}",
            show(&unexampled)
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn error_code_table_lists_every_error_code() {
    let doc = read_doc(&events_md());
    let codes = plain_names::<ErrorCode>("ErrorCode");
    let tables = tables(&doc, ERROR_CODES);
    assert_eq!(
        tables.len(),
        1,
        "want exactly one table under `## {ERROR_CODES}`"
    );
    let (header, rows) = &tables[0];
    assert!(
        header
            .first()
            .is_some_and(|h| h.eq_ignore_ascii_case("code")),
        "the first column of the error-code table must be `Code`, found {header:?}"
    );
    let mut listed = BTreeSet::new();
    let mut failures = Vec::new();
    for (cells, line) in rows {
        let spans = code_spans(&cells[0]);
        let [code] = spans.as_slice() else {
            failures.push(format!(
                "docs/events.md:{line}: the first cell must be one `code`, found {:?}",
                cells[0]
            ));
            continue;
        };
        if serde_json::from_value::<ErrorCode>(Value::String(code.to_string())).is_err() {
            failures.push(format!(
                "docs/events.md:{line}: `{code}` is not an ErrorCode"
            ));
        }
        if !listed.insert(code.to_string()) {
            failures.push(format!("docs/events.md:{line}: `{code}` is listed twice"));
        }
        if cells.iter().skip(1).all(|c| c.is_empty()) {
            failures.push(format!(
                "docs/events.md:{line}: `{code}` has no meaning written"
            ));
        }
    }
    let missing: BTreeSet<String> = codes.difference(&listed).cloned().collect();
    if !missing.is_empty() {
        failures.push(format!(
            "the error-code table is missing: {}",
            show(&missing)
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Does a code span name a catalog event (as opposed to a field or a value)?
fn looks_like_event_ref(span: &str) -> bool {
    span == "error"
        || (span.contains('.')
            && span
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_'))
}

#[test]
fn seed_mapping_only_claims_events_the_catalog_has() {
    let doc = read_doc(&events_md());
    let names = event_names();
    let tables = tables(&doc, SEED_MAPPING);
    assert!(
        tables.len() >= 4,
        "want at least one seed table per platform (4), found {}",
        tables.len()
    );
    let mut failures = Vec::new();
    let mut claimed = BTreeSet::new();
    for (header, rows) in &tables {
        let Some(col) = header.iter().position(|h| h == "Conclave") else {
            failures.push(format!(
                "a seed table without a `Conclave` column: {header:?}"
            ));
            continue;
        };
        assert!(!rows.is_empty(), "an empty seed table: {header:?}");
        for (cells, line) in rows {
            let Some(cell) = cells.get(col) else {
                failures.push(format!(
                    "docs/events.md:{line}: the row has no `Conclave` cell"
                ));
                continue;
            };
            let refs: Vec<&str> = code_spans(cell)
                .into_iter()
                .filter(|s| looks_like_event_ref(s))
                .collect();
            for r in &refs {
                if names.contains(*r) {
                    claimed.insert(r.to_string());
                } else {
                    failures.push(format!(
                        "docs/events.md:{line}: claims `{r}`, which is not a catalog event"
                    ));
                }
            }
            let not_yet = cell.starts_with("not yet —") || cell.starts_with("not yet -");
            if refs.is_empty() && !not_yet {
                failures.push(format!(
                    "docs/events.md:{line}: the Conclave cell must name a catalog event or say \"not yet — <reason>\", found {cell:?}"
                ));
            }
            if not_yet
                && cell
                    .trim_start_matches("not yet")
                    .trim_start_matches([' ', '—', '-'])
                    .trim()
                    .is_empty()
            {
                failures.push(format!(
                    "docs/events.md:{line}: \"not yet\" without a reason"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(!claimed.is_empty());
}

// ---------------------------------------------------------------------------
// docs/protocol.md

enum Parsed {
    Client(ClientMessage),
    Server(ServerMessage),
}

fn parse_message(text: &str) -> Result<Parsed, String> {
    let client = serde_json::from_str::<ClientMessage>(text);
    let server = serde_json::from_str::<ServerMessage>(text);
    match (client, server) {
        (Ok(c), Err(_)) => Ok(Parsed::Client(c)),
        (Err(_), Ok(s)) => Ok(Parsed::Server(s)),
        (Ok(_), Ok(_)) => Err("parses as both a ClientMessage and a ServerMessage".to_owned()),
        (Err(c), Err(s)) => Err(format!(
            "not a ClientMessage ({c}) nor a ServerMessage ({s})"
        )),
    }
}

#[derive(Default)]
struct Seen {
    requests: BTreeSet<String>,
    server_types: BTreeSet<String>,
    results: BTreeSet<String>,
    failures: Vec<String>,
}

impl Seen {
    fn note(&mut self, where_: &str, text: &str, parsed: Parsed) {
        match parsed {
            Parsed::Client(m) => {
                let v = serde_json::to_value(&m).unwrap();
                let ty = v["type"].as_str().unwrap().to_owned();
                assert_eq!(
                    ty,
                    m.request.type_name(),
                    "type_name() disagrees with serde for {ty}"
                );
                if let ClientRequest::Hello { version, .. } = &m.request {
                    if *version != PROTOCOL_VERSION {
                        self.failures.push(format!("{where_}: hello with version {version}, PROTOCOL_VERSION is {PROTOCOL_VERSION}:\n{text}"));
                    }
                }
                self.requests.insert(ty);
            }
            Parsed::Server(m) => {
                let v = serde_json::to_value(&m).unwrap();
                self.server_types
                    .insert(v["type"].as_str().unwrap().to_owned());
                match &m {
                    ServerMessage::Reply { .. } => {
                        self.results
                            .insert(v["result"].as_str().unwrap().to_owned());
                    }
                    ServerMessage::Welcome {
                        version, limits, ..
                    } => {
                        if *version != PROTOCOL_VERSION {
                            self.failures.push(format!("{where_}: welcome with version {version}, PROTOCOL_VERSION is {PROTOCOL_VERSION}"));
                        }
                        if *limits != Limits::default() {
                            self.failures.push(format!(
                                "{where_}: welcome limits {limits:?} differ from Limits::default() {:?}",
                                Limits::default()
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn protocol_examples() -> Seen {
    let doc = read_doc(&protocol_md());
    let mut seen = Seen::default();
    for b in &doc.blocks {
        match b.lang.as_str() {
            "json" => {
                let where_ = format!("docs/protocol.md:{}", b.line);
                match parse_message(&b.text) {
                    Ok(p) => seen.note(&where_, &b.text, p),
                    Err(e) => seen.failures.push(format!(
                        "{where_}: this ```json block does not parse: {e}\n{}",
                        b.text
                    )),
                }
            }
            // Transcripts: one message per line, `C: {..}` from the client, `S: {..}` from the server.
            "session" => {
                for (i, line) in b.text.lines().enumerate() {
                    let where_ = format!("docs/protocol.md:{}", b.line + 1 + i);
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let parsed = if let Some(json) = line.strip_prefix("C: ") {
                        serde_json::from_str::<ClientMessage>(json)
                            .map(Parsed::Client)
                            .map_err(|e| e.to_string())
                    } else if let Some(json) = line.strip_prefix("S: ") {
                        serde_json::from_str::<ServerMessage>(json)
                            .map(Parsed::Server)
                            .map_err(|e| e.to_string())
                    } else {
                        Err("a transcript line must start with `C: `, `S: ` or `#`".to_owned())
                    };
                    match parsed {
                        Ok(p) => seen.note(&where_, line, p),
                        Err(e) => seen.failures.push(format!("{where_}: {e}\n{line}")),
                    }
                }
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn every_protocol_json_block_parses_as_a_message() {
    let seen = protocol_examples();
    assert!(seen.failures.is_empty(), "\n{}", seen.failures.join("\n\n"));
}

#[test]
fn every_message_type_has_an_example_in_protocol_md() {
    let seen = protocol_examples();
    let mut failures = Vec::new();
    for (what, want, got) in [
        (
            "client request `type`",
            tagged_names::<ClientRequest>("type", "ClientRequest"),
            &seen.requests,
        ),
        (
            "server message `type`",
            tagged_names::<ServerMessage>("type", "ServerMessage"),
            &seen.server_types,
        ),
        (
            "reply `result`",
            tagged_names::<ReplyBody>("result", "ReplyBody"),
            &seen.results,
        ),
    ] {
        let missing: BTreeSet<String> = want.difference(got).cloned().collect();
        if !missing.is_empty() {
            failures.push(format!(
                "docs/protocol.md has no example of {what}: {}",
                show(&missing)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn protocol_md_states_the_limits_and_version() {
    let md = protocol_md();
    let limits = serde_json::to_value(Limits::default()).unwrap();
    for (field, value) in limits.as_object().unwrap() {
        assert!(
            md.contains(&format!("`{field}`")),
            "docs/protocol.md does not mention the limit `{field}`"
        );
        assert!(
            md.contains(&value.to_string()),
            "docs/protocol.md does not mention {field} = {value}"
        );
    }
    assert!(
        md.contains(&format!("PROTOCOL_VERSION` = {PROTOCOL_VERSION}")),
        "docs/protocol.md must state `PROTOCOL_VERSION` = {PROTOCOL_VERSION}"
    );
}

// ---------------------------------------------------------------------------
// The probe itself.

#[test]
fn the_probe_sees_real_variant_names() {
    let events = event_names();
    assert!(
        events.contains("member.joined")
            && events.contains("memberList.updated")
            && events.contains("error")
    );
    let requests = tagged_names::<ClientRequest>("type", "ClientRequest");
    assert!(requests.contains("hello") && requests.contains("start_screen_share"));
    let codes = plain_names::<ErrorCode>("ErrorCode");
    assert!(codes.contains("bad_json") && codes.contains("spoofed_sender"));
    // Every name the probe reports is one serde accepts.
    for code in &codes {
        serde_json::from_value::<ErrorCode>(Value::String(code.clone())).unwrap();
    }
}
