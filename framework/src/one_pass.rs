//! A body's header and the handler's message, read in one pass.
//!
//! Every request needs both: the header (`type`, `msg_id`, `in_reply_to`)
//! to route it, the handler's own type to handle it. Parsed one after the
//! other, the header pass cost as much as the message's (16 % of an echo
//! node's instructions). Here the message is parsed through a map that
//! notes the header's keys on the way past and hands them on unchanged.
//!
//! This is only a fast path: it answers `None` whenever it cannot vouch
//! that the header is exactly what [`BodyHeader`]'s own parse would give
//! (a key twice, a wrong type, a message whose parse failed or stopped
//! early), and the caller then parses the two apart, as before, for the
//! same result and the same error texts.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{
    BorrowedStrDeserializer, StringDeserializer, U64Deserializer, UnitDeserializer,
};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

use crate::protocol::BodyHeader;

/// The header and the message of `body`, when one pass gives both.
pub fn parse_body<'a, M: de::Deserialize<'a>>(body: &'a str) -> Option<(BodyHeader<'a>, M)> {
    let mut json = serde_json::Deserializer::from_str(body);
    let mut seen = Seen::default();
    let msg = M::deserialize(Noting {
        json: &mut json,
        seen: &mut seen,
    })
    .ok()?;
    json.end().ok()?;
    let header = BodyHeader {
        kind: seen.kind?,
        msg_id: seen.msg_id.flatten(),
        in_reply_to: seen.in_reply_to.flatten(),
    };
    Some((header, msg))
}

/// The header's keys met so far (`Some` once met).
#[derive(Default)]
struct Seen<'a> {
    kind: Option<Cow<'a, str>>,
    msg_id: Option<Option<u64>>,
    in_reply_to: Option<Option<u64>>,
}

/// The body's deserializer, as the message sees it.
struct Noting<'s, 'a> {
    json: &'s mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
    seen: &'s mut Seen<'a>,
}

impl<'a> Deserializer<'a> for Noting<'_, 'a> {
    type Error = serde_json::Error;

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

    /// One pass, when it answers, gives exactly what two passes give.
    fn agrees<'a, M: Deserialize<'a> + PartialEq + fmt::Debug>(
        body: &'a str,
    ) -> Result<bool, TestCaseError> {
        let Some((header, msg)) = parse_body::<M>(body) else {
            return Ok(false);
        };
        let (want_header, want_msg) = two_passes::<M>(body);
        let got = (header.kind.into_owned(), header.msg_id, header.in_reply_to);
        prop_assert_eq!(Some(got), want_header, "header of {}", body);
        prop_assert_eq!(Some(msg), want_msg, "message of {}", body);
        Ok(true)
    }

    #[test]
    fn a_plain_request_takes_one_pass() {
        let body = r#"{"type":"echo","msg_id":1,"echo":"x"}"#;
        let (header, msg) = parse_body::<Tagged>(body).unwrap();
        assert_eq!(
            (&*header.kind, header.msg_id, header.in_reply_to),
            ("echo", Some(1), None)
        );
        assert_eq!(msg, Tagged::Echo { echo: "x".into() });
        // Keys in any order, escaped, the ids handed on to a message that
        // keeps them.
        let body = r#"{"in_reply_to":null,"msg_id":7,"ty\u0070e":"a\"b"}"#;
        let (header, msg) = parse_body::<Keeps>(body).unwrap();
        assert_eq!(
            (&*header.kind, header.msg_id, header.in_reply_to),
            ("a\"b", Some(7), None)
        );
        assert_eq!(msg.kind, "a\"b");
        assert_eq!(msg.msg_id, Some(7));
        assert_eq!(msg.in_reply_to, None); // null, as serde_json reads it
        let body = r#"{"value":-3,"in_reply_to":4,"type":"add"}"#;
        assert!(agrees::<Tagged>(body).unwrap());
        assert!(agrees::<Value>(body).unwrap());
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
            r#"{"type":"echo","echo":1} x"#,
        ] {
            assert!(parse_body::<Tagged>(body).is_none(), "{body}");
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
