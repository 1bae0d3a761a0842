//! The wire format: one JSON object per line, `{"src","dest","body"}`.
//!
//! Incoming lines are parsed in two steps, both borrowing from the line: the
//! envelope with the body left raw, then the body's header (`type`, `msg_id`,
//! `in_reply_to`). The workload's typed message is parsed from the raw body
//! only once the framework knows it is for the workload. Unknown top-level
//! and body fields are ignored (Maelstrom adds `"id"`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::Error;

/// A node or client id, as Maelstrom names them (`n1`, `c4`, `lin-kv`).
pub type NodeId = String;

/// Whether an id names one of Maelstrom's clients (`c…`) rather than a node
/// or a service.
pub fn is_client(id: &str) -> bool {
    id.starts_with('c')
}

/// How deep a client's line may nest (`{` and `[`; the envelope is 1, the
/// body 2). Deeper lines are refused with error 12 before they are parsed
/// into values, so no handler, hash or drop ever recurses deeper than this.
pub const MAX_CLIENT_DEPTH: usize = 100;

/// How deep a line from a node or service may nest: a little deeper than a
/// client's, because nodes wrap client values (`exchange {values: [v]}`,
/// `kv_merge {entries: {k: {value: v}}}`). Below serde_json's own limit
/// (128), so the error is ours and says why.
pub const MAX_NODE_DEPTH: usize = 110;

/// The nesting depth of `line` when it is deeper than `limit`, else `None`.
/// Brackets inside strings do not count.
pub fn depth_beyond(line: &[u8], limit: usize) -> Option<usize> {
    // Almost every line has fewer brackets than the limit: one fast count,
    // no scan.
    if memchr::memchr2_iter(b'{', b'[', line).count() <= limit {
        return None;
    }
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in line {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (max > limit).then_some(max)
}

/// The envelope of an incoming line, borrowing from it.
#[derive(Debug, Deserialize)]
pub struct WireIn<'a> {
    #[serde(borrow)]
    pub src: Cow<'a, str>,
    #[serde(borrow)]
    pub dest: Cow<'a, str>,
    #[serde(borrow)]
    pub body: &'a RawValue,
}

/// The fields every body may carry.
#[derive(Debug, Deserialize)]
pub struct BodyHeader<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub msg_id: Option<u64>,
    #[serde(default)]
    pub in_reply_to: Option<u64>,
}

/// `init`'s payload.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Init {
    pub node_id: NodeId,
    pub node_ids: Vec<NodeId>,
}

/// `init_ok`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "init_ok")]
pub struct InitOk {}

/// What could be recovered of a line that did not parse as a message: enough
/// to send the sender an error, when there is a sender and a msg_id.
#[derive(Debug, PartialEq, Eq)]
pub struct Salvage {
    pub src: String,
    pub dest: Option<String>,
    pub msg_id: u64,
    /// The body is an `error` or has `in_reply_to`: it must not be answered.
    pub is_reply: bool,
}

/// Best effort: find `src`, `dest` and `body.msg_id` in a line whose message
/// is malformed in some other way (a missing field, a wrong type).
pub fn salvage(line: &[u8]) -> Option<Salvage> {
    #[derive(Deserialize)]
    struct Loose {
        src: Option<serde_json::Value>,
        dest: Option<serde_json::Value>,
        body: Option<LooseBody>,
    }
    #[derive(Deserialize)]
    struct LooseBody {
        msg_id: Option<serde_json::Value>,
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
        in_reply_to: Option<serde_json::Value>,
    }
    let loose: Loose = serde_json::from_slice(line).ok()?;
    let src = loose.src?.as_str()?.to_owned();
    let body = loose.body?;
    let is_reply =
        body.in_reply_to.is_some() || body.kind.as_ref().and_then(|k| k.as_str()) == Some("error");
    let msg_id = body.msg_id?.as_u64()?;
    let dest = loose.dest.and_then(|d| d.as_str().map(str::to_owned));
    Some(Salvage {
        src,
        dest,
        msg_id,
        is_reply,
    })
}

/// Appends one message as one line to `out`: the envelope, then the body as
/// the payload's own fields followed by `msg_id` and, on replies,
/// `in_reply_to`. On failure (a payload that is not a JSON object, or one
/// with its own `msg_id` or `in_reply_to`, which would be written twice)
/// nothing is appended.
///
/// The payload is serialised on its own and its closing brace replaced by
/// the ids, rather than through `#[serde(flatten)]`, which routes every
/// field through serde's generic map machinery: this is on the path of
/// every message a node sends.
pub fn write_line<B: Serialize>(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    payload: &B,
    msg_id: u64,
    in_reply_to: Option<u64>,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    let written = write_envelope_and_payload(out, src, dest, payload, in_reply_to.is_some());
    if let Err(e) = written {
        out.truncate(start);
        return Err(e);
    }
    // The payload ends in `}` (checked); the ids go in its place.
    out.pop();
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.extend_from_slice(b"\"msg_id\":");
    serde_json::to_writer(&mut *out, &msg_id)?;
    if let Some(in_reply_to) = in_reply_to {
        out.extend_from_slice(b",\"in_reply_to\":");
        serde_json::to_writer(&mut *out, &in_reply_to)?;
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

/// Where, in a line [`write_line`] wrote, its `dest` and its body's `type`
/// are: byte ranges (relative to the line's start) of the two strings'
/// text, which has no escapes. A router that trusts the writer (the
/// simulator, with nodes in its own process) reads both from the line
/// without parsing it, where a parse skips every value of the body to
/// find them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineHead {
    /// Where the line starts in the output, and its length (no newline).
    pub start: usize,
    pub len: usize,
    pub dest: (usize, usize),
    pub kind: (usize, usize),
}

impl LineHead {
    /// Finds the head of `line`, just written by [`write_line`] from `src`
    /// to `dest`, starting at `start` in the output; `None` when the ids
    /// need escapes or the body does not begin with a plain `type` (a
    /// payload whose `type` is not its first key, as a `json!` map with
    /// keys sorted before it): then the line is parsed.
    pub fn of_written(line: &[u8], start: usize, src: &str, dest: &str) -> Option<LineHead> {
        let plain = |id: &str| !id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        if !plain(src) || !plain(dest) {
            return None;
        }
        // {"src":"…","dest":"…","body":{"type":"…"
        let dest_at = r#"{"src":""#.len() + src.len() + r#"","dest":""#.len();
        let dest_end = dest_at + dest.len();
        let kind_at = dest_end + r#"","body":{"type":""#.len();
        let written = line.get(..dest_at - 1)?.strip_prefix(br#"{"src":""#)?;
        let ids_as_written = written.strip_prefix(src.as_bytes())? == br#"","dest":"#
            && line.get(dest_at..dest_end)? == dest.as_bytes();
        let at_kind = ids_as_written && line.get(dest_end..kind_at)? == br#"","body":{"type":""#;
        let kind_len = memchr::memchr(b'"', line.get(kind_at..)?)?;
        let kind_end = kind_at + kind_len;
        let kind_plain = !line[kind_at..kind_end].contains(&b'\\');
        (at_kind && kind_plain).then_some(LineHead {
            start,
            len: line.len(),
            dest: (dest_at, dest_end),
            kind: (kind_at, kind_end),
        })
    }

    /// `dest` and the body's `type`, read from `line`.
    pub fn read<'a>(&self, line: &'a [u8]) -> Option<(&'a str, &'a str)> {
        let dest = std::str::from_utf8(line.get(self.dest.0..self.dest.1)?).ok()?;
        let kind = std::str::from_utf8(line.get(self.kind.0..self.kind.1)?).ok()?;
        Some((dest, kind))
    }
}

/// `{"src":…,"dest":…,"body":` and the payload, which must be an object
/// without the keys the framework sets (`in_reply_to` only when it does).
fn write_envelope_and_payload<B: Serialize>(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    payload: &B,
    sets_in_reply_to: bool,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"src\":");
    serde_json::to_writer(&mut *out, src)?;
    out.extend_from_slice(b",\"dest\":");
    serde_json::to_writer(&mut *out, dest)?;
    out.extend_from_slice(b",\"body\":");
    let body_start = out.len();
    let keys = BodyKeys {
        sets_in_reply_to,
        ..BodyKeys::default()
    };
    payload.serialize(&mut serde_json::Serializer::with_formatter(&mut *out, keys))?;
    // A payload of no fields (`()`, `None`, a unit struct) is an empty
    // body, as `#[serde(flatten)]` wrote it.
    if &out[body_start..] == b"null" {
        out.truncate(body_start);
        out.extend_from_slice(b"{}");
    }
    let body = &out[body_start..];
    if body.first() != Some(&b'{') || body.last() != Some(&b'}') {
        return Err(serde::ser::Error::custom(format!(
            "a message body must be a JSON object, not {}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        )));
    }
    Ok(())
}

/// serde_json's compact output, watching the payload's own keys (depth 1):
/// a payload's own `msg_id` (or `in_reply_to`, on a reply) would be written
/// next to the framework's, and a line with a key twice is read
/// differently by different parsers. One fails the write instead.
#[derive(Default)]
struct BodyKeys {
    depth: usize,
    in_key: bool,
    /// The key being written, if it is short enough to be one of ours.
    key: [u8; 11],
    key_len: usize,
    /// The framework writes `in_reply_to` too (a reply).
    sets_in_reply_to: bool,
    /// The payload's own `in_reply_to` keys so far: one goes out as it is
    /// when the framework sets none, a second never.
    in_reply_tos: u8,
}

impl BodyKeys {
    fn clash(what: &str) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the payload has its own `{what}`, which the framework sets"),
        )
    }
}

impl serde_json::ser::Formatter for BodyKeys {
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        w.write_all(b"}")
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        w.write_all(b"]")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.in_key = self.depth == 1;
        self.key_len = 0;
        if first { Ok(()) } else { w.write_all(b",") }
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if self.in_key {
            let end = self.key_len + fragment.len();
            match self.key.get_mut(self.key_len..end) {
                Some(slot) => slot.copy_from_slice(fragment.as_bytes()),
                None => self.in_key = false, // too long to be ours
            }
            self.key_len = end;
        }
        w.write_all(fragment.as_bytes())
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        self.in_key = false; // none of our keys has an escape
        serde_json::ser::Formatter::write_char_escape(
            &mut serde_json::ser::CompactFormatter,
            w,
            escape,
        )
    }

    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        if std::mem::take(&mut self.in_key) {
            match &self.key[..self.key_len] {
                b"msg_id" => return Err(Self::clash("msg_id")),
                b"in_reply_to" => {
                    self.in_reply_tos += 1;
                    if self.sets_in_reply_to || self.in_reply_tos > 1 {
                        return Err(Self::clash("in_reply_to"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn write_raw_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // A raw payload's keys cannot be watched; raw values inside one can
        // hold no key of the body.
        if self.depth == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a message body cannot be a raw JSON value",
            ));
        }
        w.write_all(fragment.as_bytes())
    }
}

/// Appends an error reply. Error bodies have a fixed shape; this cannot fail.
pub fn write_error_line(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    error: &Error,
    msg_id: u64,
    in_reply_to: u64,
) {
    // Errors serialise to an object with a string and two integers.
    write_line(out, src, dest, error, msg_id, Some(in_reply_to))
        .expect("an error body always serialises");
}

/// A reply received for an RPC: the raw body, already known not to be an
/// `error` (those arrive as `Err(Error)`).
#[derive(Debug, Clone)]
pub struct Reply {
    pub src: NodeId,
    pub body: Box<RawValue>,
}

impl Reply {
    /// Parses the body into the type the caller expects.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(self.body.get())
            .map_err(|e| Error::malformed(format!("unexpected reply from {}: {e}", self.src)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Out {
        EchoOk { echo: String },
        AddOk,
    }

    /// `dest` and body `type` of a line, by parsing it.
    fn parsed_head(line: &[u8]) -> (String, Option<String>) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let kind = v["body"]["type"].as_str().map(str::to_string);
        (v["dest"].as_str().unwrap().to_string(), kind)
    }

    proptest::proptest! {
        /// Whatever ids and payload a line has, a head found for it reads
        /// what a parse reads; lines whose ids need escapes, or whose
        /// `type` is not first or not plain, get none.
        #[test]
        fn a_head_reads_what_a_parse_reads(
            src in "[a-c\"\\\\\u{1}é]{0,4}",
            dest in "[a-c\"\\\\\u{1}é]{1,4}",
            kind in "[a-z_\"\\\\é]{0,6}",
            type_first in proptest::bool::ANY,
            extra in "[a-z\"]{0,5}",
            prefix in "[{}\n]{0,3}",
        ) {
            let mut body = serde_json::Map::new();
            if !type_first {
                body.insert("a".into(), serde_json::json!({"type": "decoy"}));
            }
            body.insert("type".into(), serde_json::json!(kind));
            body.insert("x".into(), serde_json::json!([extra, {"type": "nested"}]));
            let mut out = prefix.clone().into_bytes();
            let start = out.len();
            write_line(&mut out, &src, &dest, &serde_json::Value::Object(body), 3, Some(1)).unwrap();
            let line = &out[start..out.len() - 1];
            let plain = |id: &str| !id.contains(['"', '\\', '\u{1}']);
            let expect_head = plain(&src) && plain(&dest) && type_first && !kind.contains(['"', '\\']);
            match LineHead::of_written(line, start, &src, &dest) {
                Some(head) => {
                    proptest::prop_assert!(expect_head);
                    proptest::prop_assert_eq!((head.start, head.len), (start, line.len()));
                    let (d, k) = head.read(line).unwrap();
                    let (pd, pk) = parsed_head(line);
                    proptest::prop_assert_eq!((d.to_string(), Some(k.to_string())), (pd, pk));
                }
                None => proptest::prop_assert!(!expect_head, "no head for {}", String::from_utf8_lossy(line)),
            }
            // Not the line written from these ids: no head.
            let other_src = format!("{src}x");
            proptest::prop_assert!(LineHead::of_written(line, start, &other_src, &dest).is_none());
        }
    }

    #[test]
    fn writes_payload_then_ids() {
        let mut out = Vec::new();
        write_line(
            &mut out,
            "n1",
            "c1",
            &Out::EchoOk { echo: "hi".into() },
            1,
            Some(2),
        )
        .unwrap();
        write_line(&mut out, "n1", "n2", &Out::AddOk, 2, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"src\":\"n1\",\"dest\":\"c1\",\"body\":{\"type\":\"echo_ok\",\"echo\":\"hi\",\"msg_id\":1,\"in_reply_to\":2}}\n\
             {\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"type\":\"add_ok\",\"msg_id\":2}}\n"
        );
    }

    #[test]
    fn an_empty_payload_object_gets_only_the_ids() {
        #[derive(Serialize)]
        struct Empty {}
        let mut out = Vec::new();
        write_line(&mut out, "n1", "n2", &Empty {}, 3, Some(1)).unwrap();
        assert_eq!(
            out,
            b"{\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"msg_id\":3,\"in_reply_to\":1}}\n"
        );
        // Ids and names that need escaping are escaped.
        out.clear();
        write_line(&mut out, "n\"1", "c\n", &Empty {}, 0, None).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["src"], "n\"1");
        assert_eq!(line["dest"], "c\n");
    }

    #[test]
    fn a_payload_of_no_fields_is_an_empty_body() {
        #[derive(Serialize)]
        struct Unit;
        let mut out = Vec::new();
        write_line(&mut out, "n1", "n2", &(), 1, None).unwrap();
        write_line(&mut out, "n1", "n2", &Unit, 2, Some(7)).unwrap();
        write_line(&mut out, "n1", "n2", &None::<Out>, 3, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"msg_id\":1}}\n\
             {\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"msg_id\":2,\"in_reply_to\":7}}\n\
             {\"src\":\"n1\",\"dest\":\"n2\",\"body\":{\"msg_id\":3}}\n"
        );
    }

    #[test]
    fn a_payload_writing_in_reply_to_twice_writes_nothing() {
        #[derive(Serialize)]
        struct Twice {
            in_reply_to: u64,
            #[serde(flatten)]
            more: serde_json::Map<String, serde_json::Value>,
        }
        let mut more = serde_json::Map::new();
        more.insert("in_reply_to".into(), 2.into());
        let mut out = b"kept\n".to_vec();
        let twice = Twice {
            in_reply_to: 1,
            more,
        };
        assert!(write_line(&mut out, "n1", "n2", &twice, 0, None).is_err());
        assert_eq!(out, b"kept\n");
    }

    #[test]
    fn a_raw_payload_writes_nothing() {
        let mut out = b"kept\n".to_vec();
        let raw = RawValue::from_string(r#"{"type":"x","msg_id":1}"#.into()).unwrap();
        assert!(write_line(&mut out, "n1", "c1", &raw, 0, None).is_err());
        // Raw values inside a payload are its own.
        #[derive(Serialize)]
        struct WithRaw<'a> {
            v: &'a RawValue,
        }
        write_line(&mut out, "n1", "c1", &WithRaw { v: &raw }, 2, None).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out[5..]).unwrap();
        assert_eq!(line["body"]["v"]["msg_id"], 1);
        assert_eq!(line["body"]["msg_id"], 2);
    }

    #[test]
    fn a_payload_that_is_not_an_object_writes_nothing() {
        let mut out = b"kept\n".to_vec();
        assert!(write_line(&mut out, "n1", "c1", &42, 0, None).is_err());
        assert_eq!(out, b"kept\n");
    }

    #[test]
    fn a_payload_with_its_own_msg_id_or_in_reply_to_writes_nothing() {
        let mut out = b"kept\n".to_vec();
        let own_id = serde_json::json!({"type": "x", "msg_id": 9});
        let err = write_line(&mut out, "n1", "n2", &own_id, 0, None).unwrap_err();
        assert!(err.to_string().contains("msg_id"), "{err}");
        let own_reply = serde_json::json!({"type": "x", "in_reply_to": 9});
        assert!(write_line(&mut out, "n1", "c1", &own_reply, 0, Some(3)).is_err());
        assert_eq!(out, b"kept\n");
        // The same names deeper down, or as a prefix, are the payload's own.
        let nested = serde_json::json!({"type": "x", "v": {"msg_id": 1}, "msg_idx": 2});
        write_line(&mut out, "n1", "c1", &nested, 4, Some(3)).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out[5..]).unwrap();
        assert_eq!(line["body"]["msg_id"], 4);
        assert_eq!(line["body"]["v"]["msg_id"], 1);
        // Without the payload's key it goes through: `in_reply_to` alone.
        let plain = serde_json::json!({"type": "y", "in_reply_to": 1});
        assert!(write_line(&mut out, "n1", "c1", &plain, 5, None).is_ok());
    }

    #[test]
    fn depth_beyond_counts_brackets_outside_strings() {
        assert_eq!(depth_beyond(br#"{"a":[1,{"b":2}]}"#, 2), Some(3));
        assert_eq!(depth_beyond(br#"{"a":[1,{"b":2}]}"#, 3), None);
        let in_string = br#"{"a":"[[[[{{{{\"[[[["}"#;
        assert_eq!(depth_beyond(in_string, 1), None);
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert_eq!(depth_beyond(deep.as_bytes(), MAX_CLIENT_DEPTH), Some(500));
        let unclosed = "{".repeat(MAX_CLIENT_DEPTH + 1);
        assert_eq!(
            depth_beyond(unclosed.as_bytes(), MAX_CLIENT_DEPTH),
            Some(MAX_CLIENT_DEPTH + 1)
        );
    }

    #[test]
    fn parses_envelope_ignoring_unknown_fields() {
        let line = br#"{"id":7,"src":"c1","dest":"n1","body":{"type":"echo","msg_id":3,"echo":"x"},"extra":true}"#;
        let wire: WireIn = serde_json::from_slice(line).unwrap();
        assert_eq!(wire.src, "c1");
        let header: BodyHeader = serde_json::from_str(wire.body.get()).unwrap();
        assert_eq!(header.kind, "echo");
        assert_eq!(header.msg_id, Some(3));
        assert_eq!(header.in_reply_to, None);
    }

    #[test]
    fn salvages_sender_of_malformed_messages() {
        let s = salvage(br#"{"src":"c1","dest":"n1","body":{"msg_id":5}}"#).unwrap();
        assert_eq!(
            s,
            Salvage {
                src: "c1".into(),
                dest: Some("n1".into()),
                msg_id: 5,
                is_reply: false,
            }
        );
        assert_eq!(salvage(br#"{"src":"c1","body":{"msg_id":"5"}}"#), None);
        assert_eq!(salvage(b"not json"), None);
        let reply = salvage(br#"{"src":"n2","body":{"type":"error","msg_id":3,"in_reply_to":-2}}"#);
        assert!(reply.unwrap().is_reply);
        assert_eq!(salvage(b"[1,2]"), None);
    }
}
