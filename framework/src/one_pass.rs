//! A request line read in one pass: envelope, body header and the
//! handler's message.
//!
//! Every request needs all three: the envelope for its sender, the header
//! (`type`, `msg_id`, `in_reply_to`) to route it, the handler's own type to
//! handle it. Parsed one after the other (the envelope with the body as
//! raw text, then the header from that text, then the message) the body
//! was read three times, and the header's pass alone cost as much as the
//! message's (16 % of an echo node's instructions). Here the message is
//! parsed where it stands in the line, through a map that notes the
//! header's keys on the way past and hands them on unchanged.
//!
//! This is only a fast path: it answers `None` whenever it cannot vouch
//! for exactly what the separate parses would give (a key twice, a wrong
//! type, an envelope that is not an object, a message whose parse failed
//! or stopped early), and the caller then parses the parts apart, as
//! before, for the same result and the same error texts. Replies, whose
//! raw body the caller keeps, take that way too.
//!
//! Two things differ for a hand-written `Deserialize` of the message (a
//! derived one cannot tell): it now also runs on lines that turn out not
//! to be requests (replies, a repeated `init`), whose result is dropped,
//! so it must have no side effects; and the header's values reach it
//! through `deserialize_any` whatever it asks for, so one that asks for a
//! string yet accepts a number would read an id that serde_json refuses.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{
    BorrowedStrDeserializer, StringDeserializer, U64Deserializer, UnitDeserializer,
};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

use crate::protocol::BodyHeader;

/// A request's parts, borrowed from its line where they had no escapes.
pub struct Parsed<'a, M> {
    pub src: Cow<'a, str>,
    pub header: BodyHeader<'a>,
    pub msg: M,
}

/// The line's sender, header and message, when one pass gives all three.
pub fn parse_line<'a, M: de::Deserialize<'a>>(line: &'a str) -> Option<Parsed<'a, M>> {
    let mut json = serde_json::Deserializer::from_str(line);
    let mut seen = Seen::default();
    let (src, msg) = json
        .deserialize_map(Envelope {
            seen: &mut seen,
            msg: PhantomData,
        })
        .ok()?;
    json.end().ok()?;
    let header = BodyHeader {
        kind: seen.kind?,
        msg_id: seen.msg_id.flatten(),
        in_reply_to: seen.in_reply_to.flatten(),
    };
    Some(Parsed { src, header, msg })
}

/// The envelope: `src`, `dest` and `body`, each once, other keys ignored
/// (as [`crate::protocol::WireIn`] reads it).
struct Envelope<'s, 'a, M> {
    seen: &'s mut Seen<'a>,
    msg: PhantomData<M>,
}

impl<'a, M: de::Deserialize<'a>> Visitor<'a> for Envelope<'_, 'a, M> {
    type Value = (Cow<'a, str>, M);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let twice = || de::Error::custom("an envelope key twice");
        let (mut src, mut dest, mut msg) = (None, None, None);
        while let Some(key) = map.next_key_seed(Text)? {
            match &*key {
                "src" if src.is_some() => return Err(twice()),
                "src" => src = Some(map.next_value_seed(Text)?),
                "dest" if dest.is_some() => return Err(twice()),
                "dest" => dest = Some(map.next_value_seed(Text)?),
                "body" if msg.is_some() => return Err(twice()),
                "body" => {
                    let seen = &mut *self.seen;
                    msg = Some(map.next_value_seed(Body {
                        seen,
                        msg: PhantomData,
                    })?);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        match (src, dest, msg) {
            (Some(src), Some(_), Some(msg)) => Ok((src, msg)),
            _ => Err(de::Error::custom("an envelope key missing")),
        }
    }
}

/// The body, read as the handler's message through [`Noting`].
struct Body<'s, 'a, M> {
    seen: &'s mut Seen<'a>,
    msg: PhantomData<M>,
}

impl<'a, M: de::Deserialize<'a>> DeserializeSeed<'a> for Body<'_, 'a, M> {
    type Value = M;

    fn deserialize<D: Deserializer<'a>>(self, json: D) -> Result<M, D::Error> {
        M::deserialize(Noting {
            json,
            seen: self.seen,
        })
    }
}

/// The header's keys met so far (`Some` once met).
#[derive(Default)]
struct Seen<'a> {
    kind: Option<Cow<'a, str>>,
    msg_id: Option<Option<u64>>,
    in_reply_to: Option<Option<u64>>,
}

/// The body's deserializer, as the message sees it.
struct Noting<'s, 'a, D> {
    json: D,
    seen: &'s mut Seen<'a>,
}

impl<'a, D: Deserializer<'a>> Deserializer<'a> for Noting<'_, 'a, D> {
    type Error = D::Error;

    // A body is an object: whatever the message asks for, it gets a map
    // (a message that cannot read one fails, and the slow path answers).
    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.json.deserialize_map(NotingVisitor {
            visitor,
            seen: self.seen,
        })
    }

    forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct NotingVisitor<'s, 'a, V> {
    visitor: V,
    seen: &'s mut Seen<'a>,
}

impl<'a, V: Visitor<'a>> Visitor<'a> for NotingVisitor<'_, 'a, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(NotingMap {
            map,
            seen: self.seen,
            next: Key::Other,
        })
    }
}

/// Which of the header's keys the value about to be read belongs to.
enum Key {
    Type,
    MsgId,
    InReplyTo,
    Other,
}

struct NotingMap<'s, 'a, A> {
    map: A,
    seen: &'s mut Seen<'a>,
    next: Key,
}

impl<'a, A: MapAccess<'a>> MapAccess<'a> for NotingMap<'_, 'a, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key_seed(Text)? else {
            return Ok(None);
        };
        self.next = match &*key {
            "type" => Key::Type,
            "msg_id" => Key::MsgId,
            "in_reply_to" => Key::InReplyTo,
            _ => Key::Other,
        };
        text_deserializer(key, seed).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let twice = || de::Error::custom("a header key twice");
        match std::mem::replace(&mut self.next, Key::Other) {
            Key::Other => self.map.next_value_seed(seed),
            Key::Type => {
                let kind = self.map.next_value_seed(Text)?;
                if self.seen.kind.replace(kind.clone()).is_some() {
                    return Err(twice());
                }
                text_deserializer(kind, seed)
            }
            key @ (Key::MsgId | Key::InReplyTo) => {
                let id: Option<u64> = self.map.next_value()?;
                let slot = match key {
                    Key::MsgId => &mut self.seen.msg_id,
                    _ => &mut self.seen.in_reply_to,
                };
                if slot.replace(id).is_some() {
                    return Err(twice());
                }
                match id {
                    Some(id) => seed.deserialize(Present(U64Deserializer::new(id))),
                    None => seed.deserialize(UnitDeserializer::new()),
                }
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Hands `text` on to the message's seed, borrowed where it was.
fn text_deserializer<'a, S: DeserializeSeed<'a>, E: de::Error>(
    text: Cow<'a, str>,
    seed: S,
) -> Result<S::Value, E> {
    match text {
        Cow::Borrowed(s) => seed.deserialize(Present(BorrowedStrDeserializer::new(s))),
        Cow::Owned(s) => seed.deserialize(Present::<StringDeserializer<E>>(s.into_deserializer())),
    }
}

/// A value handed on as serde_json would hand it: present for an
/// `Option`, itself inside a newtype (serde's value deserializers refuse
/// both).
struct Present<D>(D);

impl<'a, D: Deserializer<'a>> Deserializer<'a> for Present<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_some(self.0)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_newtype_struct(self.0)
    }

    forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A string, borrowed from the body unless it had escapes.
struct Text;

impl<'a> DeserializeSeed<'a> for Text {
    type Value = Cow<'a, str>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'a> Visitor<'a> for Text {
    type Value = Cow<'a, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'a str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Echo { echo: Value },
        Add { value: i64 },
        Plain,
    }

    /// A message that keeps the header's keys itself.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Keeps {
        #[serde(rename = "type")]
        kind: String,
        msg_id: Option<u64>,
        #[serde(default)]
        in_reply_to: Option<Value>,
    }

    /// A header's kind, msg_id and in_reply_to.
    type Header = (String, Option<u64>, Option<u64>);

    /// What the two separate parses give: the header, and the message.
    fn two_passes<'a, M: Deserialize<'a>>(body: &'a str) -> (Option<Header>, Option<M>) {
        let header = serde_json::from_str::<BodyHeader>(body)
            .ok()
            .map(|h| (h.kind.into_owned(), h.msg_id, h.in_reply_to));
        (header, serde_json::from_str::<M>(body).ok())
    }

    /// What one pass gives for `body` in an envelope from `c1`.
    fn one_pass<M: de::DeserializeOwned>(body: &str) -> Option<(Header, M)> {
        let line = format!(r#"{{"src":"c1","dest":"n1","body":{body}}}"#);
        let parsed = parse_line::<M>(&line)?;
        assert_eq!(parsed.src, "c1");
        let h = parsed.header;
        Some(((h.kind.into_owned(), h.msg_id, h.in_reply_to), parsed.msg))
    }

    /// One pass, when it answers, gives exactly what two passes give.
    fn agrees<M: de::DeserializeOwned + PartialEq + fmt::Debug>(
        body: &str,
    ) -> Result<bool, TestCaseError> {
        let Some((header, msg)) = one_pass::<M>(body) else {
            return Ok(false);
        };
        let (want_header, want_msg) = two_passes::<M>(body);
        prop_assert_eq!(Some(header), want_header, "header of {}", body);
        prop_assert_eq!(Some(msg), want_msg, "message of {}", body);
        Ok(true)
    }

    #[test]
    fn a_plain_request_takes_one_pass() {
        let body = r#"{"type":"echo","msg_id":1,"echo":"x"}"#;
        let (header, msg) = one_pass::<Tagged>(body).unwrap();
        assert_eq!(header, ("echo".to_string(), Some(1), None));
        assert_eq!(msg, Tagged::Echo { echo: "x".into() });
        // Keys in any order, escaped, the ids handed on to a message that
        // keeps them.
        let body = r#"{"in_reply_to":null,"msg_id":7,"ty\u0070e":"a\"b"}"#;
        let (header, msg) = one_pass::<Keeps>(body).unwrap();
        assert_eq!(header, ("a\"b".to_string(), Some(7), None));
        assert_eq!(msg.kind, "a\"b");
        assert_eq!(msg.msg_id, Some(7));
        assert_eq!(msg.in_reply_to, None); // null, as serde_json reads it
        let body = r#"{"value":-3,"in_reply_to":4,"type":"add"}"#;
        assert!(agrees::<Tagged>(body).unwrap());
        assert!(agrees::<Value>(body).unwrap());
        // The envelope's keys in any order, escaped, others ignored.
        let line =
            r#"{"body":{"type":"plain"},"extra":[1,{"src":2}],"dest":"n1","s\u0072c":"c\"2"}"#;
        let parsed = parse_line::<Tagged>(line).unwrap();
        assert_eq!((&*parsed.src, parsed.msg), ("c\"2", Tagged::Plain));
    }

    #[test]
    fn doubtful_envelopes_take_the_slow_path() {
        for line in [
            r#"{"src":"c1","src":"c2","dest":"n1","body":{"type":"plain"}}"#,
            r#"{"src":"c1","dest":"n1","dest":"n2","body":{"type":"plain"}}"#,
            r#"{"src":"c1","dest":"n1","body":{"type":"plain"},"body":{"type":"plain"}}"#,
            r#"{"dest":"n1","body":{"type":"plain"}}"#,
            r#"{"src":"c1","body":{"type":"plain"}}"#,
            r#"{"src":"c1","dest":"n1"}"#,
            r#"{"src":1,"dest":"n1","body":{"type":"plain"}}"#,
            r#"["c1","n1",{"type":"plain"}]"#,
            r#"{"src":"c1","dest":"n1","body":{"type":"plain"}} {}"#,
        ] {
            assert!(parse_line::<Tagged>(line).is_none(), "{line}");
        }
        let good = r#"{"src":"c1","dest":"n1","body":{"type":"plain"}}"#;
        assert!(parse_line::<Tagged>(good).is_some());
    }

    #[test]
    fn doubtful_bodies_take_the_slow_path() {
        for body in [
            r#"{"type":"echo","echo":1,"msg_id":1,"msg_id":2}"#,
            r#"{"type":"echo","echo":1,"type":"echo"}"#,
            r#"{"type":"echo","echo":1,"msg_id":-1}"#,
            r#"{"type":"echo","echo":1,"msg_id":18446744073709551616}"#,
            r#"{"type":"echo","echo":1,"in_reply_to":"3"}"#,
            r#"{"echo":1}"#,
            r#"{"type":7}"#,
            r#"{"type":"init","msg_id":1}"#,
            r#"["type","echo"]"#,
            r#"1"#,
        ] {
            assert!(one_pass::<Tagged>(body).is_none(), "{body}");
        }
    }

    const VALUES: [&str; 12] = [
        r#""echo""#,
        r#""add""#,
        r#""plain""#,
        r#""e\u0063ho""#,
        "null",
        "-1",
        "2.5",
        "7",
        "18446744073709551615",
        "18446744073709551616",
        r#"{"msg_id":1,"type":"x"}"#,
        "[1,2]",
    ];
    const KEYS: [&str; 6] = [
        "type",
        "msg_id",
        "in_reply_to",
        "echo",
        "value",
        "ms\\u0067_id",
    ];

    /// A message reading an id through a newtype, as serde_json allows.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Id(u64);
    #[derive(Debug, PartialEq, Deserialize)]
    struct Wrapped {
        msg_id: Option<Id>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }

    #[test]
    fn every_body_of_up_to_two_keys_agrees() {
        let mut bodies = vec!["{}".to_string()];
        for k1 in KEYS {
            for v1 in VALUES {
                bodies.push(format!("{{\"{k1}\":{v1}}}"));
                for k2 in KEYS {
                    for v2 in VALUES {
                        bodies.push(format!("{{\"{k1}\":{v1},\"{k2}\":{v2}}}"));
                    }
                }
            }
        }
        let mut fast = [0usize; 5];
        for body in &bodies {
            fast[0] += agrees::<Tagged>(body).unwrap() as usize;
            fast[1] += agrees::<Keeps>(body).unwrap() as usize;
            fast[2] += agrees::<Value>(body).unwrap() as usize;
            fast[3] += agrees::<std::collections::BTreeMap<String, Value>>(body).unwrap() as usize;
            fast[4] += agrees::<Wrapped>(body).unwrap() as usize;
        }
        // Each kind of message takes the one pass for some of them.
        assert!(
            fast.iter().all(|&n| n > 20),
            "one pass taken {fast:?} times of {}",
            bodies.len()
        );
    }

    proptest! {
        #[test]
        fn one_pass_agrees_with_two(
            entries in proptest::collection::vec(
                (proptest::sample::select(&KEYS[..]), proptest::sample::select(&VALUES[..])),
                0..7,
            ),
        ) {
            let fields: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let body = format!("{{{}}}", fields.join(","));
            agrees::<Tagged>(&body)?;
            agrees::<Keeps>(&body)?;
            agrees::<Value>(&body)?;
            agrees::<std::collections::BTreeMap<String, Value>>(&body)?;
            agrees::<Wrapped>(&body)?;
        }
    }
}
