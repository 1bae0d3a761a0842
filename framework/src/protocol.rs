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

/// The body written on the wire: the payload's own fields, then `msg_id`
/// and, on replies, `in_reply_to`.
#[derive(Serialize)]
struct BodyOut<'a, B: Serialize> {
    #[serde(flatten)]
    payload: &'a B,
    msg_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_reply_to: Option<u64>,
}

#[derive(Serialize)]
struct WireOut<'a, B: Serialize> {
    src: &'a str,
    dest: &'a str,
    body: BodyOut<'a, B>,
}

/// Appends one message as one line to `out`. On failure (a payload that is
/// not a JSON object) nothing is appended.
pub fn write_line<B: Serialize>(
    out: &mut Vec<u8>,
    src: &str,
    dest: &str,
    payload: &B,
    msg_id: u64,
    in_reply_to: Option<u64>,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    let wire = WireOut {
        src,
        dest,
        body: BodyOut {
            payload,
            msg_id,
            in_reply_to,
        },
    };
    match serde_json::to_writer(&mut *out, &wire) {
        Ok(()) => {
            out.push(b'\n');
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
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
    fn a_payload_that_is_not_an_object_writes_nothing() {
        let mut out = b"kept\n".to_vec();
        assert!(write_line(&mut out, "n1", "c1", &42, 0, None).is_err());
        assert_eq!(out, b"kept\n");
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
