//! The macro behind every message set (the commands and events of an aggregate).
//!
//! Each message is its own struct; a set is an enum with one variant per struct, named after
//! it. The variant name is the wire type name (`PlaceOrder`, `OrderPlaced`), and each event type
//! carries its own schema version, so one type can evolve without touching the others.
//!
//! The sets know no codec: a codec (`codec/`, above the aggregates with the envelopes) is a
//! [`PayloadCodec`], and a set hands it each payload at its own type.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A payload encoding, as the message sets see it.
pub(crate) trait PayloadCodec {
    type Encoded;
    type Error;
    fn encode<T: Serialize>(&self, message: &T) -> Self::Encoded;
    fn decode<T: DeserializeOwned>(
        &self,
        type_name: &str,
        payload: &[u8],
    ) -> Result<T, Self::Error>;
}

/// Adds a payload type's JSON Schema to a generator's definitions and returns a reference to it.
pub type SchemaMaker = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// Declares a message-set enum. `Name = N` gives the type's current schema version.
macro_rules! message_set {
    ($(#[$meta:meta])* pub enum $set:ident { $($variant:ident = $version:literal),+ $(,)? }) => {
        $(#[$meta])*
        // See `envelope::Command` on why large variants stay unboxed.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $set {
            $($variant($variant),)+
        }

        impl $set {
            /// Every type in the set with its current schema version.
            pub const TYPES: &'static [(&'static str, u16)] = &[$((stringify!($variant), $version),)+];

            /// The wire type name, e.g. `OrderPlaced`.
            pub fn type_name(&self) -> &'static str {
                match self { $($set::$variant(_) => stringify!($variant),)+ }
            }

            /// The schema version this build writes for the message's type.
            pub fn schema_version(&self) -> u16 {
                match self { $($set::$variant(_) => $version,)+ }
            }

            /// The current schema version of a type in this set, or `None` if it is not one.
            pub fn current_version_of(type_name: &str) -> Option<u16> {
                Self::TYPES.iter().find(|(name, _)| *name == type_name).map(|&(_, v)| v)
            }

            pub(crate) fn encode_payload<C>(&self, codec: &C) -> C::Encoded
            where
                C: crate::message::PayloadCodec,
            {
                match self { $($set::$variant(message) => codec.encode(message),)+ }
            }

            /// Decodes a payload written at the type's current version; `None` for a type name
            /// outside this set.
            pub(crate) fn decode_current<C: crate::message::PayloadCodec>(
                codec: &C,
                type_name: &str,
                payload: &[u8],
            ) -> Option<Result<$set, C::Error>> {
                match type_name {
                    $(stringify!($variant) => Some(
                        codec.decode::<$variant>(type_name, payload).map($set::$variant)
                    ),)+
                    _ => None,
                }
            }

            /// `(type name, version, schema maker)` for every type: the maker adds the payload's
            /// schema to a generator's definitions and returns a reference to it.
            pub fn payload_schemas() -> Vec<(&'static str, u16, crate::message::SchemaMaker)> {
                vec![$((
                    stringify!($variant),
                    $version,
                    (|generator: &mut schemars::SchemaGenerator| generator.subschema_for::<$variant>())
                        as crate::message::SchemaMaker,
                ),)+]
            }
        }

        $(impl From<$variant> for $set {
            fn from(message: $variant) -> $set {
                $set::$variant(message)
            }
        })+
    };
}

/// Declares a union of message sets (`Command`, `Event`): one variant per set, each `in` the
/// aggregate kind its messages belong to (an `AggregateKind` in scope where it is declared),
/// and everything that finds a type name's set, written once for all sets.
macro_rules! message_union {
    (
        $(#[$meta:meta])*
        pub enum $union:ident { $($variant:ident($set:ident) in $kind:path),+ $(,)? }
    ) => {
        $(#[$meta])*
        // A placement is a few hundred bytes larger than other messages. Messages are built once
        // and moved a handful of times, so boxing it would add noise to every match for no
        // measurable gain.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $union {
            $($variant($set),)+
        }

        impl $union {
            /// The wire type name, e.g. `PlaceOrder`.
            pub fn type_name(&self) -> &'static str {
                match self { $($union::$variant(message) => message.type_name(),)+ }
            }

            /// The schema version this build writes for the message's type.
            pub fn schema_version(&self) -> u16 {
                match self { $($union::$variant(message) => message.schema_version(),)+ }
            }

            /// The kind of aggregate the message belongs to.
            pub fn aggregate_kind(&self) -> AggregateKind {
                match self { $($union::$variant(_) => $kind,)+ }
            }

            /// `(type name, version, aggregate kind, schema maker)` of every type of every set.
            pub fn payload_schemas() -> Vec<(
                &'static str,
                u16,
                AggregateKind,
                crate::message::SchemaMaker,
            )> {
                let mut all = Vec::new();
                $(all.extend($set::payload_schemas().into_iter().map(|(name, version, maker)| {
                    (name, version, $kind, maker)
                }));)+
                all
            }

            /// Every type name of every set with its current schema version.
            pub fn types() -> impl Iterator<Item = (&'static str, u16)> {
                [$($set::TYPES),+].into_iter().flatten().copied()
            }

            /// The current schema version of a type in any set, or `None` if it is in none.
            pub fn current_version_of(type_name: &str) -> Option<u16> {
                Option::<u16>::None $(.or_else(|| $set::current_version_of(type_name)))+
            }

            pub(crate) fn encode_payload<C>(&self, codec: &C) -> C::Encoded
            where
                C: crate::message::PayloadCodec,
            {
                match self { $($union::$variant(message) => message.encode_payload(codec),)+ }
            }

            /// Decodes a payload written at its type's current version, in whichever set the
            /// type is; `None` for a type in no set.
            pub(crate) fn decode_current<C: crate::message::PayloadCodec>(
                codec: &C,
                type_name: &str,
                payload: &[u8],
            ) -> Option<Result<$union, C::Error>> {
                Option::<Result<$union, C::Error>>::None $(.or_else(|| {
                    $set::decode_current(codec, type_name, payload).map(|r| r.map($union::$variant))
                }))+
            }
        }

        $(impl From<$set> for $union {
            fn from(message: $set) -> $union {
                $union::$variant(message)
            }
        })+
    };
}

pub(crate) use {message_set, message_union};
